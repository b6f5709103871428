//! `sesame authenticator`: a real push device on the command line, a client of the
//! device protocol like any phone app. Its Ed25519 key stays in a state file readable by
//! its owner only (mode 0600); the server only ever sees the public half.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::{Engine, engine::general_purpose::STANDARD};
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::crypto::{
    self,
    jws::{SigningAlg, SigningKey, UnverifiedJws, VerifyingKey},
};
use crate::second_factor::push::{ChallengeView, VERSION};

#[derive(Args)]
pub struct AuthenticatorArgs {
    /// Where the device's key and id are kept (created with mode 0600 by `enroll`).
    #[arg(long, global = true, env = "SESAME_AUTHENTICATOR_FILE", default_value = "sesame-authenticator.json")]
    pub file: PathBuf,
    #[command(subcommand)]
    pub command: AuthenticatorCommand,
}

#[derive(Subcommand)]
pub enum AuthenticatorCommand {
    /// Register this computer as a push device, from the enrollment link of the account page.
    Enroll {
        link: String,
        /// The name the account page shows for this device.
        #[arg(long, default_value = "sesame authenticator")]
        name: String,
    },
    /// Show the sign-in requests waiting for approval (application, time, origin).
    List {
        /// Wait up to this many seconds for a request to arrive.
        #[arg(long, default_value_t = 0)]
        wait: u64,
    },
    /// Approve a request after typing the number shown on the sign-in page.
    Approve {
        /// The request's id as `list` shows it (it may start with `-`).
        #[arg(allow_hyphen_values = true)]
        id: String,
        /// The number on the sign-in page; asked for when left out.
        #[arg(long)]
        number: Option<u32>,
    },
    /// Deny a request.
    Deny {
        #[arg(allow_hyphen_values = true)]
        id: String,
        /// It was not me: report the attempt (push is suspended for the account and its
        /// administrators are told).
        #[arg(long)]
        report: bool,
    },
}

/// What `enroll` keeps.
#[derive(Serialize, Deserialize)]
struct DeviceFile {
    v: u32,
    issuer: String,
    account: String,
    device_id: String,
    server_key: Value,
    /// PKCS#8 of the device's Ed25519 key, base64.
    private_key: String,
}

impl DeviceFile {
    fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!("no device file {} (run `sesame authenticator enroll LINK` first)", path.display())
        })?;
        serde_json::from_str(&text).with_context(|| format!("{} is not a device file", path.display()))
    }

    fn save(&self, path: &Path) -> anyhow::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
        file.write_all(serde_json::to_string_pretty(self)?.as_bytes())?;
        Ok(())
    }

    fn key(&self) -> anyhow::Result<SigningKey> {
        let pkcs8 = STANDARD.decode(&self.private_key).context("the device key is not base64")?;
        SigningKey::from_pkcs8(self.device_id.clone(), SigningAlg::EdDsa, &pkcs8)
            .context("the device key is unreadable")
    }
}

fn http() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().timeout(std::time::Duration::from_secs(60)).build()?)
}

/// Posts `{"jws": …}` and returns the JSON answer, or the server's error in words.
async fn call(url: &str, jws: String) -> anyhow::Result<Value> {
    let response =
        http()?.post(url).json(&json!({"jws": jws})).send().await.with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!(
            "{} ({}): {}",
            body["error"].as_str().unwrap_or("error"),
            status.as_u16(),
            body["error_description"].as_str().unwrap_or("the server refused the request")
        );
    }
    Ok(body)
}

fn now() -> i64 {
    use crate::clock::Clock;
    crate::clock::SystemClock.now()
}

pub async fn run(args: AuthenticatorArgs) -> anyhow::Result<()> {
    match args.command {
        AuthenticatorCommand::Enroll { link, name } => enroll(&args.file, &link, &name).await,
        AuthenticatorCommand::List { wait } => {
            let device = DeviceFile::load(&args.file)?;
            let challenges = pending(&device, wait).await?;
            if challenges.is_empty() {
                println!("no request is waiting");
            }
            for c in challenges {
                let ago = (now() - c.time).max(0);
                let origin = c.origin.as_deref().unwrap_or("unknown");
                println!("{}  {}  asked {ago} s ago from {origin}  ({})", c.challenge_id, c.application, c.account);
            }
            Ok(())
        }
        AuthenticatorCommand::Approve { id, number } => {
            let device = DeviceFile::load(&args.file)?;
            let challenge = find(&device, &id).await?;
            let number = match number {
                Some(number) => number,
                None => ask_number(&challenge)?,
            };
            answer(&device, &challenge, "approve", Some(number)).await
        }
        AuthenticatorCommand::Deny { id, report } => {
            let device = DeviceFile::load(&args.file)?;
            let challenge = find(&device, &id).await?;
            answer(&device, &challenge, if report { "fraud" } else { "deny" }, None).await
        }
    }
}

async fn enroll(file: &Path, link: &str, name: &str) -> anyhow::Result<()> {
    if file.exists() {
        bail!("{} exists: this device is enrolled already (use --file for another one)", file.display());
    }
    let url = url::Url::parse(link).context("the enrollment link is not a URL")?;
    let token = url
        .query_pairs()
        .find(|(k, _)| k == "enroll")
        .map(|(_, v)| v.into_owned())
        .context("the link has no enrollment token (…/authenticator?enroll=…)")?;
    let base = link.split("/authenticator").next().unwrap_or_default().to_string();
    let (key, pkcs8) = SigningKey::generate("new".into(), SigningAlg::EdDsa)?;
    let mut public = key.public_jwk();
    if let Some(object) = public.as_object_mut() {
        object.retain(|k, _| matches!(k.as_str(), "kty" | "crv" | "x"));
    }
    let claims = json!({"token": token, "name": name, "public_key": public, "iat": now()});
    let answer = call(&format!("{base}/push/v1/devices"), key.sign("sesame-push-enroll+jwt", &claims)?).await?;
    let device = DeviceFile {
        v: VERSION,
        issuer: answer["issuer"].as_str().unwrap_or(&base).to_string(),
        account: answer["account"].as_str().unwrap_or_default().to_string(),
        device_id: answer["device_id"].as_str().context("the server gave no device id")?.to_string(),
        server_key: answer["server_key"].clone(),
        private_key: STANDARD.encode(&pkcs8),
    };
    device.save(file)?;
    println!("enrolled as device {} for account {} at {}", device.device_id, device.account, device.issuer);
    println!("key kept in {} (mode 0600)", file.display());
    Ok(())
}

fn signed_request(device: &DeviceFile, typ: &str, mut claims: Value) -> anyhow::Result<String> {
    claims["iat"] = json!(now());
    claims["jti"] = json!(crypto::random_id());
    Ok(device.key()?.sign(typ, &claims)?)
}

/// The waiting challenges, each checked against the server key kept at enrollment: a
/// request not signed by the real server is never shown.
async fn pending(device: &DeviceFile, wait: u64) -> anyhow::Result<Vec<ChallengeView>> {
    let jws = signed_request(device, "sesame-push-poll+jwt", json!({"wait": wait}))?;
    let answer = call(&format!("{}/push/v1/pending", device.issuer), jws).await?;
    let server =
        VerifyingKey::from_jwk(&device.server_key, SigningAlg::EdDsa).context("the kept server key is unusable")?;
    let mut challenges = Vec::new();
    for signed in answer["challenges"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        let parsed = UnverifiedJws::parse(signed).ok();
        match parsed.and_then(|jws| jws.verify::<ChallengeView>(&server).ok()) {
            Some(challenge) => challenges.push(challenge),
            None => eprintln!("ignored a request that the server did not sign"),
        }
    }
    Ok(challenges)
}

async fn find(device: &DeviceFile, id: &str) -> anyhow::Result<ChallengeView> {
    pending(device, 0)
        .await?
        .into_iter()
        .find(|c| c.challenge_id == id)
        .with_context(|| format!("no request {id} is waiting (answered, expired, or for another account)"))
}

fn ask_number(challenge: &ChallengeView) -> anyhow::Result<u32> {
    println!(
        "{} asks to sign in as {} (from {}).",
        challenge.application,
        challenge.account,
        challenge.origin.as_deref().unwrap_or("unknown")
    );
    print!("Type the number shown on the sign-in page: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    line.trim().parse().context("a number, as shown on the sign-in page")
}

async fn answer(
    device: &DeviceFile,
    challenge: &ChallengeView,
    decision: &str,
    number: Option<u32>,
) -> anyhow::Result<()> {
    let claims = json!({
        "challenge_id": challenge.challenge_id,
        "nonce": challenge.nonce,
        "number": number,
        "decision": decision,
    });
    let jws = signed_request(device, "sesame-push-answer+jwt", claims)?;
    let result = call(&format!("{}/push/v1/answer", device.issuer), jws).await?;
    match result["state"].as_str() {
        Some("approved") => println!("approved: the sign-in continues"),
        Some("fraud") => println!("denied and reported: push is suspended for the account"),
        Some(other) => println!("{other}"),
        None => println!("answered"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    /// Request ids are base64url: one may start with `-` and must not be taken for an option.
    #[test]
    fn ids_starting_with_a_dash_are_ids() {
        let cli = crate::cli::Cli::try_parse_from(["sesame", "authenticator", "approve", "-Cx9", "--number", "42"]);
        let Ok(crate::cli::Cli { command: crate::cli::Command::Authenticator(args), .. }) = cli else {
            panic!("not parsed");
        };
        let super::AuthenticatorCommand::Approve { id, number } = args.command else { panic!("not approve") };
        assert_eq!((id.as_str(), number), ("-Cx9", Some(42)));
        assert!(crate::cli::Cli::try_parse_from(["sesame", "authenticator", "deny", "-Cx9", "--report"]).is_ok());
    }
}
