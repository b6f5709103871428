//! Seeds: realistic inputs for each target's corpus, and the tokens they carry.

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::json;

use super::harness::{ISSUER, NOW, OFFICE, SEALED_LOGIN, fixed_key, harness, must};
use crate::auth::known_browser::{self, KnownBrowser};
use crate::crypto::{
    self,
    jws::{SigningAlg, SigningKey},
};
use crate::web::csrf;

/// A push device's own key, for the seeds of the device protocol.
const DEVICE_SEED: [u8; 32] = [0x5e; 32];

/// Realistic inputs for each target's corpus, made with the harness's own keys (the
/// fuzz targets write them when `SESAME_FUZZ_SEEDS` names a folder).
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    let text = |items: Vec<String>| items.into_iter().map(String::into_bytes).collect();
    match target {
        "authorize_params" => {
            let hint = id_token(SigningAlg::Rs256, "actes-web");
            text(vec![
                "response_type=code&client_id=actes-web&redirect_uri=https%3A%2F%2Factes.example%2Fcallback&scope=openid%20profile%20email&state=af0ifjsldkj&nonce=n-0S6_WzA2Mj".into(),
                "response_type=code&client_id=actes-web&redirect_uri=https%3A%2F%2Factes.example%2Fcallback%3Ftenant%3Dparis&scope=openid&response_mode=form_post&state=s1&prompt=none".into(),
                "response_type=code&client_id=actes-desktop&redirect_uri=http%3A%2F%2F127.0.0.1%3A7777%2Fcallback&scope=openid+offline_access&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&state=xyz".into(),
                "response_type=code&client_id=partner-portal&redirect_uri=https%3A%2F%2Fpartner.example%2Fcb&scope=openid%20phone%20address&max_age=0&ui_locales=en&acr_values=urn%3Asesame%3Aloa%3A2fa&login_hint=pauline".into(),
                format!("response_type=code&client_id=actes-web&redirect_uri=https%3A%2F%2Factes.example%2Fcallback&scope=openid&id_token_hint={hint}&prompt=login&claims=%7B%22userinfo%22%3A%7B%22email%22%3Anull%7D%7D"),
                "response_type=token&client_id=compta-web&redirect_uri=https%3A%2F%2Fcompta.example%2Fcallback&scope=openid&request=eyJhbGciOiJub25lIn0.e30.&state=a&state=b".into(),
                "client_id=actes-web&redirect_uri=https%3A%2F%2Fevil.example%2Fcallback&response_type=code&scope=openid".into(),
            ])
        }
        "token_params" => {
            let basic = |id: &str, secret: &str| STANDARD.encode(format!("{id}:{secret}"));
            text(vec![
                format!("/token\ncontent-type: application/x-www-form-urlencoded\nauthorization: Basic {}\n\ngrant_type=client_credentials&scope=actes.api", basic("actes-api", "actes-api-secret-0123456789")),
                format!("/token\ncontent-type: application/x-www-form-urlencoded\nauthorization: Basic {}\n\ngrant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA&redirect_uri=https%3A%2F%2Factes.example%2Fcallback", basic("actes-web", "actes-web-secret-0123456789")),
                "/token\ncontent-type: application/x-www-form-urlencoded; charset=UTF-8\n\ngrant_type=refresh_token&refresh_token=tGzv3JOkF0XG5Qx2TlKWIA&client_id=compta-web&client_secret=compta-web-secret-0123456789&scope=openid".into(),
                "/token\ncontent-type: application/x-www-form-urlencoded\n\ngrant_type=authorization_code&code=abc&client_id=actes-desktop&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk&redirect_uri=http%3A%2F%2F127.0.0.1%3A7777%2Fcallback".into(),
                format!("/token\ncontent-type: application/x-www-form-urlencoded\n\ngrant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={}", client_assertion()),
                format!("/introspect\ncontent-type: application/x-www-form-urlencoded\nauthorization: Basic {}\n\ntoken={}&token_type_hint=access_token", basic("actes-api", "actes-api-secret-0123456789"), access_token()),
                format!("/revoke\ncontent-type: application/x-www-form-urlencoded\nauthorization: Basic {}\n\ntoken=tGzv3JOkF0XG5Qx2TlKWIA&token_type_hint=refresh_token", basic("actes-web", "actes-web-secret-0123456789")),
                "/token\ncontent-type: application/json\n\n{\"grant_type\":\"client_credentials\"}".into(),
            ])
        }
        "basic_auth" => text(vec![
            format!(
                "Basic {}\ngrant_type=authorization_code&code=x",
                STANDARD.encode("actes-web:actes-web-secret-0123456789")
            ),
            format!("basic {}\nclient_id=my%3Aclient", STANDARD.encode("my%3Aclient:p%40ss+w%C3%B6rd")),
            "Basic not-base64!\n".into(),
            "\nclient_id=compta-web&client_secret=compta-web-secret-0123456789".into(),
            format!(
                "\nclient_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={}",
                client_assertion()
            ),
            "\nclient_id=actes-desktop".into(),
        ]),
        "jws" => {
            let mut tokens: Vec<String> = SigningAlg::ALL.into_iter().map(|alg| id_token(alg, "actes-web")).collect();
            tokens.push(access_token());
            tokens.push(client_assertion());
            tokens.push(format!("{{\"jws\":\"{}\"}}", push_enrollment()));
            tokens.push(push_answer());
            tokens.push(format!("{{\"jws\":\"{}\"}}", push_answer()));
            text(tokens)
        }
        "phone" => text(
            [
                "06 12 34 56 78",
                "+33 6 12 34 56 78",
                "0033612345678",
                "+1 (415) 555-0100",
                "06.12.34.56.78",
                "pauline@etude.example",
                " Emilie.Durand@Etude.Example ",
                "SoniaAIT",
                "jean-marc.o_neil@office",
                "wdjb-mjht",
                " WDJB MJHT ",
            ]
            .map(String::from)
            .to_vec(),
        ),
        "import_file" => text(vec![OFFICE.to_string(), IMPORT_EXTRAS.to_string()]),
        "cookies" => {
            let h = harness();
            let state = &h.state;
            let browser = crypto::sign(&state.csrf_key, "browser-id", &crypto::random_token());
            let known = KnownBrowser::default()
                .remember("0b9e1b52-3f6c-4d0e-9a0f-6a4c1f1e2d3c")
                .remember("5f2c8a61-7d4e-4b8a-b1c2-93e0d4f5a6b7")
                .to_cookie(&state.known_browser_key);
            let tx = state.secrets.seal(
                json!({"id": "x", "request": {"client_id": "actes-web"}, "browser_hash": "h", "expires_at": NOW + 600})
                    .to_string()
                    .as_bytes(),
                SEALED_LOGIN,
            );
            text(vec![
                format!(
                    "{}; {}; {}",
                    h.cookie(csrf::BROWSER_COOKIE, &browser),
                    h.cookie(known_browser::COOKIE, &known),
                    h.session_cookie()
                ),
                h.cookie(csrf::BROWSER_COOKIE, &browser),
                known,
                tx,
            ])
        }
        _ => Vec::new(),
    }
}

/// Writes `seeds(target)` into `dir`, one file each (`seed-N`).
pub fn write_seeds(target: &str, dir: &std::path::Path) {
    must(std::fs::create_dir_all(dir), "seed folder");
    for (n, seed) in seeds(target).iter().enumerate() {
        must(std::fs::write(dir.join(format!("seed-{n}")), seed), "seed file");
    }
}

/// An import file with what the test office lacks: hashes, key sets, options.
const IMPORT_EXTRAS: &str = r#"[[applications]]
code = "INOTPAIE"
name = "iNot Paie"
rights = [{ code = "paie.lecture", label = "Consulter" }]
options = [{ key = "plafond", type = "integer", label = "Plafond", default = 10 }, { key = "actif", type = "boolean", label = "Actif" }]

[[clients]]
client_id = "paie-web"
application = "INOTPAIE"
secret_hash = "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$Yk4zHk3WQp7wQd2oXGFlTLz0b8m9wQk0c5oX0Bh4pDg"
redirect_uris = ["https://paie.example/callback"]
backchannel_logout_uri = "https://paie.example/logout"
require_two_factor = true

[[clients]]
client_id = "paie-batch"
application = "INOTPAIE"
redirect_uris = ["https://paie.example/unused"]
grant_types = ["client_credentials"]
token_endpoint_auth_method = "private_key_jwt"
jwks = '{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k1"}]}'

[[accounts]]
username = "Remi.Paie"
password_hash = "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$Yk4zHk3WQp7wQd2oXGFlTLz0b8m9wQk0c5oX0Bh4pDg"
first_name = "Rémi"
email = "remi@etude.example"
phone = "+33 7 00 00 00 01"
two_factor_required = true
sms_disabled = true
access = [{ application = "INOTPAIE", rights = ["paie.lecture"], options = { plafond = 500, actif = true } }]
"#;

fn id_token(alg: SigningAlg, audience: &str) -> String {
    let claims = json!({
        "iss": ISSUER, "sub": "0b9e1b52-3f6c-4d0e-9a0f-6a4c1f1e2d3c", "aud": audience,
        "exp": NOW + 600, "iat": NOW, "auth_time": NOW - 60, "nonce": "n-0S6_WzA2Mj", "sid": "s1",
    });
    must(fixed_key(alg).sign("JWT", &claims), "sign")
}

fn access_token() -> String {
    let claims = json!({
        "iss": ISSUER, "sub": "actes-api", "aud": ISSUER, "client_id": "actes-api", "scope": "actes.api",
        "exp": NOW + 600, "iat": NOW, "jti": "at-1",
    });
    must(fixed_key(SigningAlg::EdDsa).sign("at+jwt", &claims), "sign")
}

fn client_assertion() -> String {
    let claims = json!({
        "iss": "actes-api", "sub": "actes-api", "aud": format!("{ISSUER}/token"),
        "exp": NOW + 300, "iat": NOW, "jti": "ca-1",
    });
    must(fixed_key(SigningAlg::Es256).sign("JWT", &claims), "sign")
}

fn device_key() -> SigningKey {
    must(SigningKey::ed25519_from_seed("device-1".into(), &DEVICE_SEED), "device key")
}

fn push_enrollment() -> String {
    let key = device_key();
    let mut public = key.public_jwk();
    if let Some(jwk) = public.as_object_mut() {
        jwk.retain(|name, _| ["kty", "crv", "x"].contains(&name.as_str()));
    }
    let claims = json!({"token": "enr-0123456789", "name": "Téléphone de Pauline", "public_key": public, "iat": NOW});
    must(key.sign("JWT", &claims), "sign")
}

fn push_answer() -> String {
    let claims = json!({
        "challenge_id": "c-1", "nonce": "nonce-1", "decision": "approve", "number": 42,
        "iat": NOW, "jti": "j-1", "wait": 20,
    });
    must(device_key().sign("JWT", &claims), "sign")
}
