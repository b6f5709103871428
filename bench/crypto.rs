//! The CPU cost of what the token endpoint and the login page do: one signature per
//! algorithm, one signature check, one client secret check, one password verification,
//! and the second factors' own work: a TOTP check, signing a push challenge.
//!
//! `cargo bench --bench crypto` (add `-- --quick` for a short run).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use sesame::clients::SecretHasher;
use sesame::config::PasswordConfig;
use sesame::crypto::jws::{SigningAlg, SigningKey, UnverifiedJws};
use sesame::crypto::password::PasswordHasherService;

fn access_token_claims() -> serde_json::Value {
    json!({
        "iss": "https://login.etude.example", "sub": "4f64570f-1a10-4f45-b8ad-8e147c4dfd7c",
        "aud": "inotacte-web", "client_id": "inotacte-web", "exp": 1_800_000_000, "iat": 1_799_999_400,
        "jti": "d2Vsb3ZlZG9jcw", "scope": "openid profile email", "sid": "c2Vzc2lvbg",
    })
}

fn signatures(c: &mut Criterion) {
    let claims = access_token_claims();
    let mut group = c.benchmark_group("sign access token");
    for alg in SigningAlg::ALL {
        let (key, _) = SigningKey::generate("bench".into(), alg).expect("key");
        group.bench_function(alg.as_str(), |b| b.iter(|| key.sign("at+jwt", black_box(&claims)).expect("sign")));
    }
    group.finish();

    let mut group = c.benchmark_group("verify access token");
    for alg in SigningAlg::ALL {
        let (key, _) = SigningKey::generate("bench".into(), alg).expect("key");
        let verifying = key.verifying_key();
        let token = key.sign("at+jwt", &claims).expect("sign");
        group.bench_function(alg.as_str(), |b| {
            b.iter(|| {
                let jws = UnverifiedJws::parse(black_box(&token)).expect("parse");
                jws.verify::<serde_json::Value>(&verifying).expect("verify")
            })
        });
    }
    group.finish();
}

fn secrets(c: &mut Criterion) {
    let hasher = SecretHasher::new([7; 32]);
    let stored = hasher.hash("actes-api-secret-0123456789");
    let passwords = PasswordHasherService::new(&PasswordConfig::default()).expect("argon2");
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    c.bench_function("client secret check (HMAC-SHA256)", |b| {
        b.iter(|| runtime.block_on(hasher.verify(black_box("actes-api-secret-0123456789"), &stored, &passwords)))
    });
    let phc = runtime.block_on(passwords.hash("correct horse battery")).expect("hash");
    let mut group = c.benchmark_group("password");
    group.sample_size(10);
    // Through the hashing threads, as a login checks it (their queue adds microseconds).
    group.bench_function("Argon2id verify (19 MiB, t=2, p=1)", |b| {
        b.iter(|| runtime.block_on(passwords.verify(black_box("correct horse battery"), &phc)))
    });
    group.finish();
}

fn second_factors(c: &mut Criterion) {
    let config = sesame::config::TwoFactorConfig::default();
    let secret = [7u8; 20];
    let now = 1_800_000_000;
    c.bench_function("TOTP check, wrong code (3 steps, HMAC-SHA1)", |b| {
        b.iter(|| sesame::second_factor::totp::code_step(black_box(&secret), &config, black_box("123456"), now))
    });
    let secrets = sesame::crypto::secretbox::SecretBox::from_bytes([9u8; 32]);
    let key = sesame::second_factor::push::server_key(&secrets).expect("push key");
    let challenge = json!({"v": 1, "challenge_id": "Y2hhbGxlbmdl", "nonce": "bm9uY2U", "account": "pauline",
        "application": "iNot Actes", "time": now, "ip": "192.0.2.7", "origin": "192.0.2.0/24", "expires_at": now + 120});
    c.bench_function("push challenge signature (Ed25519)", |b| {
        b.iter(|| key.sign("sesame-push-challenge+jwt", black_box(&challenge)).expect("sign"))
    });
}

criterion_group!(benches, signatures, secrets, second_factors);
criterion_main!(benches);
