//! Web Push over real HTTP: a push-service stand-in on loopback checks what a real one
//! would (the VAPID token against its `k` key, `aud`, `exp`) and decrypts the message
//! as the browser would (RFC 8291, written here with the subscription's private key,
//! not with the server's code); a device written from docs/push-protocol.md with a P-256
//! key (as the web authenticator) registers its subscription over the signed protocol.

use std::sync::{
    Arc,
    atomic::{AtomicU16, Ordering},
};
use std::time::{Duration, Instant};

use aws_lc_rs::{
    aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey},
    agreement::{self, ECDH_P256, PrivateKey, UnparsedPublicKey},
    hkdf::{HKDF_SHA256, KeyType, Salt},
    rand::SystemRandom,
    signature::{self, ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair},
};
use axum::{body::Bytes, extract::State, http::HeaderMap, http::StatusCode};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use sesame::storage::entities::{web_push_key, web_push_subscription};
use tokio::sync::mpsc;

use crate::harness::{Backend, TestServer};
use crate::on_every_backend;
use crate::push::{enrollment_link, push_page, send};
use crate::rp::Browser;
use crate::two_factor::{element_text, submit};

on_every_backend!(
    a_sign_in_request_reaches_the_phone_through_its_push_service_within_a_second,
    a_subscription_the_push_service_says_is_gone_is_deleted,
    malformed_subscriptions_are_refused_with_the_documented_error,
    the_login_works_when_the_push_service_is_down,
    nodes_starting_together_share_one_vapid_key
);

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).expect("base64url")
}

// ---------------------------------------------------------------------------------------
// The push-service stand-in.

/// What the stand-in received, and when.
struct Received {
    at: Instant,
    headers: HeaderMap,
    body: Bytes,
}

struct StandIn {
    origin: String,
    /// The status it answers (201, or 410 to say the subscription is gone).
    status: Arc<AtomicU16>,
    received: mpsc::UnboundedReceiver<Received>,
}

async fn stand_in() -> StandIn {
    let (sender, received) = mpsc::unbounded_channel();
    let status = Arc::new(AtomicU16::new(201));
    async fn accept(
        State((sender, status)): State<(mpsc::UnboundedSender<Received>, Arc<AtomicU16>)>,
        headers: HeaderMap,
        body: Bytes,
    ) -> StatusCode {
        let _ = sender.send(Received { at: Instant::now(), headers, body });
        StatusCode::from_u16(status.load(Ordering::SeqCst)).unwrap()
    }
    let app =
        axum::Router::new().route("/wpush/{id}", axum::routing::post(accept)).with_state((sender, status.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    StandIn { origin, status, received }
}

impl StandIn {
    async fn next(&mut self, within: Duration) -> Option<Received> {
        tokio::time::timeout(within, self.received.recv()).await.ok().flatten()
    }
}

/// What a push service checks (RFC 8292): `vapid t=<ES256 JWT>, k=<P-256 point>`, the
/// signature by `k`, `aud` = its own origin, `exp` in the future and within 24 hours, a
/// contact in `sub`. Returns `k`.
fn check_vapid(headers: &HeaderMap, origin: &str) -> String {
    let authorization = headers["authorization"].to_str().unwrap();
    let rest = authorization.strip_prefix("vapid ").expect("the vapid scheme");
    let mut token = None;
    let mut key = None;
    for part in rest.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => token = Some(value.to_string()),
            Some(("k", value)) => key = Some(value.to_string()),
            _ => panic!("unexpected parameter in {authorization}"),
        }
    }
    let (token, key) = (token.expect("t="), key.expect("k="));
    let point = unb64(&key);
    assert_eq!((point.len(), point[0]), (65, 4), "k is an uncompressed P-256 point");
    let (input, signature) = token.rsplit_once('.').unwrap();
    signature::UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
        .verify(input.as_bytes(), &unb64(signature))
        .expect("the JWT is signed by k (ES256)");
    let (header, claims) = input.split_once('.').unwrap();
    let header: Value = serde_json::from_slice(&unb64(header)).unwrap();
    assert_eq!(header["alg"], "ES256");
    let claims: Value = serde_json::from_slice(&unb64(claims)).unwrap();
    assert_eq!(claims["aud"], origin, "aud is the push service's origin");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let exp = claims["exp"].as_i64().expect("exp");
    assert!(exp > now && exp <= now + 24 * 3600, "exp {exp} is in the next 24 hours (now {now})");
    let sub = claims["sub"].as_str().expect("sub");
    assert!(sub.starts_with("mailto:") || sub.starts_with("http"), "{sub}");
    key
}

// ---------------------------------------------------------------------------------------
// The browser's side: its subscription keys, and RFC 8291 decryption.

struct BrowserSubscription {
    private: PrivateKey,
    public: Vec<u8>,
    auth: [u8; 16],
    endpoint: String,
}

impl BrowserSubscription {
    fn new(endpoint: String) -> Self {
        let private = PrivateKey::generate(&ECDH_P256).unwrap();
        let public = private.compute_public_key().unwrap().as_ref().to_vec();
        let mut auth = [0u8; 16];
        aws_lc_rs::rand::fill(&mut auth).unwrap();
        Self { private, public, auth, endpoint }
    }

    fn to_json(&self) -> Value {
        json!({"endpoint": self.endpoint, "expirationTime": null,
               "keys": {"p256dh": b64(&self.public), "auth": b64(&self.auth)}})
    }

    /// RFC 8291 section 3 and RFC 8188, from the receiving end.
    fn decrypt(&self, body: &[u8]) -> Vec<u8> {
        struct Len(usize);
        impl KeyType for Len {
            fn len(&self) -> usize {
                self.0
            }
        }
        let salt = &body[..16];
        let record_size = u32::from_be_bytes(body[16..20].try_into().unwrap());
        let id_len = body[20] as usize;
        assert_eq!(id_len, 65, "keyid is the server's ephemeral P-256 key");
        let as_public = &body[21..21 + id_len];
        let record = &body[21 + id_len..];
        assert!(record.len() <= record_size as usize, "one record");
        let ecdh =
            agreement::agree(&self.private, UnparsedPublicKey::new(&ECDH_P256, as_public), (), |s| Ok(s.to_vec()))
                .unwrap();
        let fill = |prk: &aws_lc_rs::hkdf::Prk, info: &[&[u8]], len: usize| {
            let mut out = vec![0u8; len];
            prk.expand(info, Len(len)).unwrap().fill(&mut out).unwrap();
            out
        };
        let prk_key = Salt::new(HKDF_SHA256, &self.auth).extract(&ecdh);
        let ikm = fill(&prk_key, &[b"WebPush: info\0", &self.public, as_public], 32);
        let prk = Salt::new(HKDF_SHA256, salt).extract(&ikm);
        let cek = fill(&prk, &[b"Content-Encoding: aes128gcm\0"], 16);
        let nonce = fill(&prk, &[b"Content-Encoding: nonce\0"], 12);
        let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &cek).unwrap());
        let mut in_out = record.to_vec();
        let plain = key
            .open_in_place(Nonce::try_assume_unique_for_key(&nonce).unwrap(), Aad::empty(), &mut in_out)
            .expect("the message decrypts with the subscription's key")
            .to_vec();
        let end = plain.iter().rposition(|b| *b != 0).expect("a delimiter");
        assert_eq!(plain[end], 2, "the last record's delimiter");
        plain[..end].to_vec()
    }
}

// ---------------------------------------------------------------------------------------
// A P-256 device, like the web authenticator.

struct Device {
    key: EcdsaKeyPair,
    id: String,
}

fn sign(key: &EcdsaKeyPair, kid: &str, typ: &str, claims: &Value) -> String {
    let header = json!({"alg": "ES256", "kid": kid, "typ": typ});
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let signature = key.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
    format!("{input}.{}", b64(signature.as_ref()))
}

async fn post(server: &TestServer, path: &str, jws: &str) -> (u16, Value) {
    let response = reqwest::Client::new().post(server.url(path)).json(&json!({"jws": jws})).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

impl Device {
    async fn enroll(server: &TestServer, link: &str) -> Self {
        let token = url::Url::parse(link).unwrap().query_pairs().find(|(k, _)| k == "enroll").unwrap().1.into_owned();
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let point = key.public_key().as_ref();
        let public = json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..])});
        let claims = json!({"token": token, "name": "Téléphone de Pauline", "public_key": public,
                            "iat": server.clock_now()});
        let (status, body) =
            post(server, "/push/v1/devices", &sign(&key, "new", "sesame-push-enroll+jwt", &claims)).await;
        assert_eq!(status, 201, "{body}");
        Self { key, id: body["device_id"].as_str().unwrap().to_string() }
    }

    async fn call(&self, server: &TestServer, path: &str, typ: &str, mut claims: Value) -> (u16, Value) {
        claims["iat"] = json!(server.clock_now());
        claims["jti"] = json!(uuid::Uuid::new_v4().to_string());
        post(server, path, &sign(&self.key, &self.id, typ, &claims)).await
    }

    async fn subscribe(&self, server: &TestServer, subscription: Value) -> (u16, Value) {
        let claims = json!({"subscription": subscription});
        self.call(server, "/push/v1/web-push/subscriptions", "sesame-push-subscribe+jwt", claims).await
    }

    /// The waiting challenges' claims (their signature is checked in push.rs).
    async fn pending(&self, server: &TestServer) -> Vec<Value> {
        let (status, body) = self.call(server, "/push/v1/pending", "sesame-push-poll+jwt", json!({})).await;
        assert_eq!(status, 200, "{body}");
        let payload = |jws: &Value| {
            let part = jws.as_str().unwrap().split('.').nth(1).unwrap().to_string();
            serde_json::from_slice::<Value>(&unb64(&part)).unwrap()
        };
        body["challenges"].as_array().unwrap().iter().map(payload).collect()
    }
}

async fn subscriptions_of(server: &TestServer, device: &Device) -> u64 {
    web_push_subscription::Entity::find()
        .filter(web_push_subscription::Column::DeviceId.eq(device.id.as_str()))
        .count(&server.state.db)
        .await
        .unwrap()
}

/// Pauline's phone: enrolled as a push device, its browser subscribed at `endpoint`.
async fn subscribed_phone(server: &TestServer, endpoint: String) -> (Device, BrowserSubscription) {
    let link = enrollment_link(server).await;
    let device = Device::enroll(server, &link).await;
    let browser = BrowserSubscription::new(endpoint);
    let (status, body) = device.subscribe(server, browser.to_json()).await;
    assert_eq!(status, 201, "{body}");
    assert!(body["subscription_id"].is_string(), "{body}");
    (device, browser)
}

// ---------------------------------------------------------------------------------------

async fn a_sign_in_request_reaches_the_phone_through_its_push_service_within_a_second(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut push_service = stand_in().await;
    let endpoint = format!("{}/wpush/pauline-phone", push_service.origin);
    let (device, phone) = subscribed_phone(&server, endpoint).await;
    let published: Value = reqwest::get(server.url("/push/v1/web-push")).await.unwrap().json().await.unwrap();
    let application_server_key = published["application_server_key"].as_str().unwrap().to_string();
    assert_eq!(unb64(&application_server_key).len(), 65);

    let browser = Browser::new();
    let (page, _) = push_page(&server, &browser).await;
    assert!(push_service.next(Duration::from_millis(200)).await.is_none(), "nothing before the user asks");
    let asked = Instant::now();
    let waiting = send(&browser, &server, &page).await;
    assert_eq!(waiting.status, 200, "{}", waiting.body);
    let received = push_service.next(Duration::from_secs(5)).await.expect("the notification reaches the push service");
    let delivery = received.at.duration_since(asked);
    println!("Web Push delivery: {} ms from the user's request to the push service", delivery.as_millis());
    assert!(delivery < Duration::from_secs(1), "delivered in {delivery:?}");

    // What a push service checks.
    let k = check_vapid(&received.headers, &push_service.origin);
    assert_eq!(k, application_server_key, "signed with the key browsers subscribed with");
    let header = |name: &str| received.headers.get(name).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(header("content-encoding").as_deref(), Some("aes128gcm"));
    assert_eq!(header("urgency").as_deref(), Some("high"));
    let ttl: i64 = header("ttl").expect("TTL").parse().unwrap();
    assert!((1..=120).contains(&ttl), "TTL {ttl}: the request's life");

    // What the browser reads: no number, no secret.
    let plain = phone.decrypt(&received.body);
    let text = String::from_utf8(plain).unwrap();
    let payload: Value = serde_json::from_str(&text).unwrap();
    println!("Web Push payload: {text}");
    assert_eq!(payload["v"], 1);
    assert_eq!(payload["type"], "push_challenge");
    assert_eq!(payload["application"], "iNot Actes");
    assert!(payload["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(payload["body"].as_str().unwrap().contains("iNot Actes"), "{text}");
    let mut keys: Vec<&str> = payload.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["application", "body", "title", "type", "v"], "nothing else travels");
    let number = element_text(&waiting.body, "push-number").unwrap();
    assert!(!text.contains(&number), "no number: {text}");
    for shown in ["application", "title", "body"] {
        assert!(!payload[shown].as_str().unwrap().chars().any(|c| c.is_ascii_digit()), "no number: {text}");
    }
    let challenge = device.pending(&server).await.remove(0);
    for secret in ["nonce", "challenge_id"] {
        let value = challenge[secret].as_str().unwrap();
        assert!(!text.contains(value), "the {secret} does not travel: {text}");
    }
    // The browser's language decides the words (French first).
    assert!(payload["body"].as_str().unwrap().starts_with("Approuver"), "{text}");
}

async fn a_subscription_the_push_service_says_is_gone_is_deleted(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut push_service = stand_in().await;
    let endpoint = format!("{}/wpush/expired", push_service.origin);
    let (device, _) = subscribed_phone(&server, endpoint.clone()).await;
    // Registering the same endpoint again renews it; it is not a second subscription.
    let again = BrowserSubscription::new(endpoint);
    assert_eq!(device.subscribe(&server, again.to_json()).await.0, 201);
    assert_eq!(subscriptions_of(&server, &device).await, 1);

    push_service.status.store(410, Ordering::SeqCst);
    let browser = Browser::new();
    let (page, _) = push_page(&server, &browser).await;
    assert_eq!(send(&browser, &server, &page).await.status, 200);
    push_service.next(Duration::from_secs(5)).await.expect("the push service is asked");
    let deadline = Instant::now() + Duration::from_secs(5);
    while subscriptions_of(&server, &device).await > 0 {
        assert!(Instant::now() < deadline, "the gone subscription is deleted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn malformed_subscriptions_are_refused_with_the_documented_error(backend: Backend) {
    let server = TestServer::start(backend).await;
    let link = enrollment_link(&server).await;
    let device = Device::enroll(&server, &link).await;
    let good = BrowserSubscription::new("https://push.example/wpush/1".into());
    let with = |change: &dyn Fn(&mut Value)| {
        let mut subscription = good.to_json();
        change(&mut subscription);
        subscription
    };
    let refused = [
        with(&|s| s["endpoint"] = json!("http://push.example/wpush/1")),
        with(&|s| s["endpoint"] = json!("http://192.0.2.10:8080/wpush/1")),
        with(&|s| s["endpoint"] = json!(format!("https://push.example/{}", "x".repeat(1100)))),
        with(&|s| s["keys"]["p256dh"] = json!(b64(&good.public[..64]))),
        with(&|s| s["keys"]["p256dh"] = json!(b64(&[4; 65]))),
        with(&|s| s["keys"]["auth"] = json!(b64(&[1; 15]))),
        with(&|s| s["keys"]["auth"] = json!(b64(&[1; 32]))),
        with(&|s| {
            s.as_object_mut().unwrap().remove("keys");
        }),
    ];
    for subscription in refused {
        let (status, body) = device.subscribe(&server, subscription.clone()).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_subscription")), "{subscription}: {body}");
        assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    }
    assert_eq!(subscriptions_of(&server, &device).await, 0, "nothing stored");

    // The message's type is checked, and an unsigned or unknown device is refused as
    // everywhere in the protocol.
    let claims = json!({"subscription": good.to_json()});
    let (status, body) = device.call(&server, "/push/v1/web-push/subscriptions", "sesame-push-poll+jwt", claims).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
    let stranger = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let forged = json!({"subscription": good.to_json(), "iat": server.clock_now(), "jti": "x1"});
    let (status, body) = post(
        &server,
        "/push/v1/web-push/subscriptions",
        &sign(&stranger, &device.id, "sesame-push-subscribe+jwt", &forged),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_signature")), "{body}");

    // Bounded per device: the oldest go.
    for n in 0..7 {
        let subscription = BrowserSubscription::new(format!("https://push.example/wpush/{n}"));
        assert_eq!(device.subscribe(&server, subscription.to_json()).await.0, 201);
    }
    assert_eq!(subscriptions_of(&server, &device).await, 5);
}

async fn the_login_works_when_the_push_service_is_down(backend: Backend) {
    let server = TestServer::start(backend).await;
    // A port nothing listens on.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/wpush/down", closed.local_addr().unwrap());
    drop(closed);
    let (device, _) = subscribed_phone(&server, endpoint).await;

    let browser = Browser::new();
    let (page, request) = push_page(&server, &browser).await;
    let asked = Instant::now();
    let waiting = send(&browser, &server, &page).await;
    assert_eq!(waiting.status, 200, "{}", waiting.body);
    assert!(asked.elapsed() < Duration::from_secs(2), "the page does not wait for the push service");
    let number: i64 = element_text(&waiting.body, "push-number").unwrap().parse().unwrap();
    let challenge = device.pending(&server).await.remove(0);
    let claims = json!({"challenge_id": challenge["challenge_id"], "nonce": challenge["nonce"],
                        "number": number, "decision": "approve"});
    let (status, body) = device.call(&server, "/push/v1/answer", "sesame-push-answer+jwt", claims).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("approved")), "{body}");
    let done =
        submit(&browser, &server, &waiting, "/login/verify", &[("method", "push"), ("action", "complete")]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let client = crate::rp::actes_web(&server).await;
    crate::rp::exchange(&client, &done.location_param("code").unwrap(), request.verifier).await.unwrap();
    assert_eq!(subscriptions_of(&server, &device).await, 1, "a failure is not a 410: the subscription stays");
}

/// Two nodes starting at once on an empty database end with one VAPID key.
async fn nodes_starting_together_share_one_vapid_key(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::harness::fresh_database(&backend, dir.path()).await;
    let config = crate::harness::test_config(dir.path(), url.clone());
    let open = || sesame::app::open_state(config.clone(), Arc::new(sesame::clock::AdjustableClock::default()));
    let (first, second) = tokio::join!(open(), open());
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first.web_push.public_key(), second.web_push.public_key());
    assert_eq!(web_push_key::Entity::find().count(&first.db).await.unwrap(), 1);
    // A restart keeps it (subscriptions are bound to it).
    let third = open().await.unwrap();
    assert_eq!(third.web_push.public_key(), first.web_push.public_key());
    drop((first, second, third));
    crate::harness::drop_database(&url).await;
}

/// The web authenticator is installable (a complete manifest) and its service worker,
/// served from /static/, may control /authenticator; the page's policy lets it register.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_authenticator_is_installable_and_its_service_worker_covers_it() {
    let server = TestServer::start(Backend::Sqlite).await;
    let get = |path: &str| reqwest::get(server.url(path));
    let worker = get("/static/authenticator-sw.js").await.unwrap();
    assert_eq!(worker.status(), 200);
    let header = |response: &reqwest::Response, name: &str| {
        response.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
    };
    assert!(header(&worker, "content-type").starts_with("text/javascript"));
    assert_eq!(header(&worker, "service-worker-allowed"), "/authenticator");
    let script = worker.text().await.unwrap();
    for event in ["\"push\"", "\"notificationclick\""] {
        assert!(script.contains(event), "the worker handles {event}");
    }

    let manifest: Value = get("/static/authenticator.webmanifest").await.unwrap().json().await.unwrap();
    assert!(manifest["name"].as_str().is_some_and(|n| !n.is_empty()));
    assert_eq!(manifest["start_url"], "/authenticator");
    assert_eq!(manifest["scope"], "/authenticator");
    assert_eq!(manifest["display"], "standalone");
    let icons = manifest["icons"].as_array().unwrap();
    for size in ["192x192", "512x512"] {
        let icon = icons.iter().find(|i| i["sizes"] == size).expect("an icon of each size browsers ask for");
        let served = get(icon["src"].as_str().unwrap()).await.unwrap();
        assert_eq!((served.status().as_u16(), header(&served, "content-type").as_str()), (200, "image/png"));
    }

    let page = get("/authenticator").await.unwrap();
    let policy = header(&page, "content-security-policy");
    assert!(policy.contains("script-src 'self'") && !policy.contains("worker-src"), "{policy}");
    let html = page.text().await.unwrap();
    assert!(html.contains("/static/authenticator.webmanifest") && html.contains("id=\"notifications\""));
}
