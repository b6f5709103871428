//! Passkeys (WebAuthn, with webauthn-rs): a passkey is a second factor like an
//! authenticator app, and — where the operator allows it — a sign-in by itself (the
//! authenticator checks its owner's PIN, fingerprint or face: two factors in one).
//!
//! A passkey is a `second_factors` row of method `webauthn`: the credential (public key,
//! counter, flags) sealed in `secret` like every secret at rest, its id in
//! `credential_id` (unique: a sign-in without a username finds it by that), its
//! signature counter in `last_step`, raised only by an atomic compare in the database so
//! that a cloned authenticator is caught even when both copies answer at once.
//!
//! The ceremonies (`ceremony`) are kept server-side and used once. The JSON exchanged
//! with the browser is the WebAuthn Level 3 JSON forms (see docs/passkeys.md).

pub mod ceremony;

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    sea_query::Expr,
};
use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, RequestChallengeResponse, Url, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};

use self::ceremony::{NewCeremony, Purpose};
use crate::accounts::Account;
use crate::config::Config;
use crate::crypto::{self, secretbox::SecretBox};
use crate::domain::DomainError;
use crate::storage::entities::second_factor;

/// The `method` of passkeys, in `second_factors` and in the forms.
pub const METHOD: &str = "webauthn";

/// Sign-ins by passkey alone that may wait for their answer at once, on all nodes.
pub const MAX_WAITING_DISCOVERIES: u64 = 10_000;

/// Why a passkey ceremony did not succeed; `code()` is the stable reason.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    #[error("passkeys are not available on this server")]
    Unavailable,
    #[error("too many passkey sign-ins are waiting; try again in a moment")]
    Busy,
    #[error("the ceremony expired or was already used")]
    Expired,
    #[error("the browser's answer is not a WebAuthn JSON response")]
    Malformed,
    #[error("the authenticator's answer was refused: {0}")]
    Refused(WebauthnError),
    #[error("the authenticator did not verify its user (PIN, fingerprint or face)")]
    UserNotVerified,
    #[error("this passkey is already registered")]
    AlreadyRegistered,
    #[error("this model of authenticator is not allowed here")]
    ModelNotAllowed,
    #[error("this passkey is not registered to an account")]
    UnknownCredential,
    #[error("the passkey's signature counter went backwards: it may have been copied")]
    CounterWentBack { factor_id: String, account_id: String },
    #[error(transparent)]
    Domain(#[from] DomainError),
}

impl PasskeyError {
    /// The stable reason, for the audit trail, JSON errors and the pages' messages.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unavailable => "passkeys_unavailable",
            Self::Busy => "busy",
            Self::Expired => "ceremony_expired",
            Self::Malformed => "malformed_response",
            Self::Refused(_) => "passkey_refused",
            Self::UserNotVerified => "user_not_verified",
            Self::AlreadyRegistered => "passkey_already_registered",
            Self::ModelNotAllowed => "authenticator_not_allowed",
            Self::UnknownCredential => "unknown_passkey",
            Self::CounterWentBack { .. } => "counter_went_back",
            Self::Domain(_) => "server_error",
        }
    }

    fn from_webauthn(error: WebauthnError) -> Self {
        match error {
            WebauthnError::UserNotVerified => Self::UserNotVerified,
            WebauthnError::CredentialPossibleCompromise => {
                Self::CounterWentBack { factor_id: String::new(), account_id: String::new() }
            }
            other => Self::Refused(other),
        }
    }
}

/// A passkey that just signed: which one, and the `amr` value of its kind (RFC 8176):
/// `swk` for a passkey that may be synchronised between devices (its key is software
/// held by a cloud account), `hwk` for one bound to its hardware.
#[derive(Debug, Clone)]
pub struct UsedPasskey {
    pub factor_id: String,
    pub account_id: String,
    pub key_kind: &'static str,
}

impl UsedPasskey {
    /// The `amr` of a login that used this passkey after the password.
    pub fn amr_after_password(&self) -> Vec<String> {
        ["pwd", self.key_kind, "mfa"].map(String::from).to_vec()
    }

    /// The `amr` of a sign-in by this passkey alone: the key, the user verified by it.
    pub fn amr_alone(&self) -> Vec<String> {
        [self.key_kind, "user", "mfa"].map(String::from).to_vec()
    }
}

/// The relying party: built once from the configuration.
pub struct Passkeys {
    webauthn: Option<Webauthn>,
    passwordless: bool,
    allowed_aaguids: Vec<Uuid>,
    ceremony_ttl: i64,
    /// Keys the user handles given to authenticators (see `user_handle`).
    handle_key: [u8; 32],
}

impl Passkeys {
    /// The relying party of this configuration; passkeys are off (and said so in the log)
    /// when it cannot be one — an issuer on an IP address, a bad `rp_id`.
    pub fn new(config: &Config, handle_key: [u8; 32]) -> Self {
        let settings = &config.passkeys;
        let webauthn = if settings.enabled {
            relying_party(config).inspect_err(|reason| tracing::warn!(%reason, "passkeys are off")).ok()
        } else {
            None
        };
        let allowed_aaguids = settings.allowed_aaguids.iter().filter_map(|text| Uuid::parse_str(text).ok()).collect();
        Self {
            webauthn,
            passwordless: settings.passwordless,
            allowed_aaguids,
            ceremony_ttl: settings.ceremony_ttl,
            handle_key,
        }
    }

    pub fn available(&self) -> bool {
        self.webauthn.is_some()
    }

    /// Whether a passkey alone may sign in.
    pub fn passwordless(&self) -> bool {
        self.available() && self.passwordless
    }

    fn relying(&self) -> Result<&Webauthn, PasskeyError> {
        self.webauthn.as_ref().ok_or(PasskeyError::Unavailable)
    }

    /// The user handle an authenticator keeps for the account: derived from its id by a
    /// keyed hash, so that it names the account to Sésame only (not its `sub`).
    pub fn user_handle(&self, account_id: &str) -> Uuid {
        let hash = crypto::keyed_hash(&self.handle_key, "passkey-user-handle", account_id.as_bytes());
        let bytes = URL_SAFE_NO_PAD.decode(hash).unwrap_or_default();
        let mut handle = [0u8; 16];
        for (slot, byte) in handle.iter_mut().zip(bytes) {
            *slot = byte;
        }
        Uuid::from_bytes(handle)
    }

    fn ceremony<'a>(
        &self,
        purpose: Purpose,
        binding: &'a str,
        account_id: Option<&'a str>,
        challenge: &'a [u8],
        state: String,
        now: i64,
    ) -> NewCeremony<'a> {
        NewCeremony { purpose, binding, account_id, challenge, state, expires_at: now + self.ceremony_ttl }
    }

    /// Starts registering a new passkey for `account`: the creation options for the
    /// browser. Its passkeys already registered are excluded (the authenticator says so
    /// instead of making a second one).
    pub async fn start_registration(
        &self,
        db: &impl ConnectionTrait,
        secrets: &SecretBox,
        account: &Account,
        binding: &str,
        now: i64,
    ) -> Result<CreationChallengeResponse, PasskeyError> {
        let relying = self.relying()?;
        let existing = passkeys_of(db, secrets, &account.id).await?;
        let exclude = existing.iter().map(|(_, passkey)| passkey.cred_id().clone()).collect();
        let name = if account.full_name().is_empty() { account.username.clone() } else { account.full_name() };
        let (mut options, registration) = relying
            .start_passkey_registration(self.user_handle(&account.id), &account.username, &name, Some(exclude))
            .map_err(PasskeyError::from_webauthn)?;
        // Ask for a discoverable credential where the authenticator can keep one, so the
        // same passkey also signs in without a username; a security key that cannot
        // still serves as a second factor.
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.resident_key = Some(webauthn_rs_proto::ResidentKeyRequirement::Preferred);
        }
        if !self.allowed_aaguids.is_empty() {
            options.public_key.attestation = Some(webauthn_rs_proto::AttestationConveyancePreference::Direct);
        }
        let state = serde_json::to_string(&registration).map_err(|e| DomainError::Crypto(e.to_string()))?;
        let challenge = options.public_key.challenge.to_vec();
        let ceremony = self.ceremony(Purpose::Register, binding, Some(&account.id), &challenge, state, now);
        ceremony::save(db, ceremony).await?;
        Ok(options)
    }

    /// Checks the browser's answer to a registration and stores the new passkey (active
    /// at once when `confirmed`, else once the enrollment is confirmed); its factor id.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_registration(
        &self,
        db: &impl ConnectionTrait,
        secrets: &SecretBox,
        account: &Account,
        binding: &str,
        label: &str,
        response: &str,
        confirmed: bool,
        now: i64,
    ) -> Result<String, PasskeyError> {
        let relying = self.relying()?;
        let answer: RegisterPublicKeyCredential =
            serde_json::from_str(response).map_err(|_| PasskeyError::Malformed)?;
        let client_data = &answer.response.client_data_json;
        let state: PasskeyRegistration =
            taken_state(db, Purpose::Register, binding, Some(&account.id), client_data, now).await?;
        let passkey = relying.finish_passkey_registration(&answer, &state).map_err(PasskeyError::from_webauthn)?;
        if !self.allowed_aaguids.is_empty() {
            let aaguid = aaguid_of(&answer.response.attestation_object);
            if !aaguid.is_some_and(|aaguid| self.allowed_aaguids.contains(&aaguid)) {
                return Err(PasskeyError::ModelNotAllowed);
            }
        }
        store(db, secrets, &account.id, label, &passkey, confirmed, now).await
    }

    /// Starts proving one of the account's passkeys (the second factor after the
    /// password): the request options, which list them.
    pub async fn start_authentication(
        &self,
        db: &impl ConnectionTrait,
        secrets: &SecretBox,
        account: &Account,
        binding: &str,
        now: i64,
    ) -> Result<RequestChallengeResponse, PasskeyError> {
        let relying = self.relying()?;
        let passkeys: Vec<Passkey> = passkeys_of(db, secrets, &account.id).await?.into_iter().map(|(_, p)| p).collect();
        if passkeys.is_empty() {
            return Err(PasskeyError::UnknownCredential);
        }
        let (options, authentication) =
            relying.start_passkey_authentication(&passkeys).map_err(PasskeyError::from_webauthn)?;
        let state = serde_json::to_string(&authentication).map_err(|e| DomainError::Crypto(e.to_string()))?;
        let challenge = options.public_key.challenge.to_vec();
        let ceremony = self.ceremony(Purpose::Authenticate, binding, Some(&account.id), &challenge, state, now);
        ceremony::save(db, ceremony).await?;
        Ok(options)
    }

    /// Checks the browser's answer proving one of the account's passkeys.
    pub async fn finish_authentication(
        &self,
        db: &impl ConnectionTrait,
        secrets: &SecretBox,
        account: &Account,
        binding: &str,
        response: &str,
        now: i64,
    ) -> Result<UsedPasskey, PasskeyError> {
        let relying = self.relying()?;
        let answer: PublicKeyCredential = serde_json::from_str(response).map_err(|_| PasskeyError::Malformed)?;
        let client_data = &answer.response.client_data_json;
        let state: PasskeyAuthentication =
            taken_state(db, Purpose::Authenticate, binding, Some(&account.id), client_data, now).await?;
        let credential_id = URL_SAFE_NO_PAD.encode(answer.get_credential_id());
        let (row, passkey) = find(db, secrets, &credential_id).await?.ok_or(PasskeyError::UnknownCredential)?;
        if row.account_id != account.id {
            return Err(PasskeyError::UnknownCredential);
        }
        let result = relying
            .finish_passkey_authentication(&answer, &state)
            .map_err(|e| with_factor(PasskeyError::from_webauthn(e), &row))?;
        record_use(db, secrets, &row, passkey, &result, now).await
    }

    /// Starts a sign-in by passkey alone: request options that name no account (the
    /// authenticator offers the passkeys it holds for this site).
    pub async fn start_discovery(
        &self,
        db: &impl ConnectionTrait,
        binding: &str,
        now: i64,
    ) -> Result<RequestChallengeResponse, PasskeyError> {
        if !self.passwordless() {
            return Err(PasskeyError::Unavailable);
        }
        // Anybody may start one (the login page is public): a flood from many addresses
        // meets this bound rather than filling the table.
        if ceremony::waiting_discoveries(db, now).await? >= MAX_WAITING_DISCOVERIES {
            return Err(PasskeyError::Busy);
        }
        let (mut options, discovery) =
            self.relying()?.start_discoverable_authentication().map_err(PasskeyError::from_webauthn)?;
        // The page chooses the mediation: autofill (conditional) or the button (modal).
        options.mediation = None;
        let state = serde_json::to_string(&discovery).map_err(|e| DomainError::Crypto(e.to_string()))?;
        let challenge = options.public_key.challenge.to_vec();
        ceremony::save(db, self.ceremony(Purpose::Discover, binding, None, &challenge, state, now)).await?;
        Ok(options)
    }

    /// Checks the answer of a sign-in by passkey alone: whose passkey it is, and that it
    /// signed with its user verified.
    pub async fn finish_discovery(
        &self,
        db: &impl ConnectionTrait,
        secrets: &SecretBox,
        binding: &str,
        response: &str,
        now: i64,
    ) -> Result<UsedPasskey, PasskeyError> {
        if !self.passwordless() {
            return Err(PasskeyError::Unavailable);
        }
        let relying = self.relying()?;
        let answer: PublicKeyCredential = serde_json::from_str(response).map_err(|_| PasskeyError::Malformed)?;
        let client_data = &answer.response.client_data_json;
        let state = taken_state(db, Purpose::Discover, binding, None, client_data, now).await?;
        let (handle, raw_id) =
            relying.identify_discoverable_authentication(&answer).map_err(|_| PasskeyError::Malformed)?;
        let credential_id = URL_SAFE_NO_PAD.encode(raw_id);
        let (row, passkey) = find(db, secrets, &credential_id).await?.ok_or(PasskeyError::UnknownCredential)?;
        // The handle the authenticator keeps must be the one given to this account.
        if handle != self.user_handle(&row.account_id) {
            return Err(PasskeyError::UnknownCredential);
        }
        let result = relying
            .finish_discoverable_authentication_v2(&answer, state, &passkey)
            .map_err(|e| with_factor(PasskeyError::from_webauthn(e), &row))?;
        record_use(db, secrets, &row, passkey, &result, now).await
    }
}

/// The state of the ceremony an answer quotes (its client data's challenge), taken once:
/// it must be of this purpose and binding, and started for `account_id` (none: a
/// sign-in by passkey alone).
async fn taken_state<T: serde::de::DeserializeOwned>(
    db: &impl ConnectionTrait,
    purpose: Purpose,
    binding: &str,
    account_id: Option<&str>,
    client_data: &[u8],
    now: i64,
) -> Result<T, PasskeyError> {
    let challenge = ceremony::quoted_challenge(client_data).ok_or(PasskeyError::Malformed)?;
    let taken = ceremony::take(db, purpose, binding, &challenge, now).await?;
    taken
        .filter(|t| t.account_id.as_deref() == account_id)
        .and_then(|t| serde_json::from_str(&t.state).ok())
        .ok_or(PasskeyError::Expired)
}

/// The `amr` value of a stored passkey's kind (`swk` when it may be synchronised, else
/// `hwk`), confirmed or not: what an enrollment that made it proves.
pub async fn key_kind(
    db: &impl ConnectionTrait,
    secrets: &SecretBox,
    factor_id: &str,
) -> Result<&'static str, DomainError> {
    let row = second_factor::Entity::find_by_id(factor_id.to_string()).one(db).await?;
    let stored = row.and_then(|row| secrets.open(&row.secret, &super::sealed_aad(&row.id)).ok());
    let synchronised = stored
        .and_then(|text| serde_json::from_slice::<serde_json::Value>(&text).ok())
        .is_some_and(|passkey| passkey["cred"]["backup_eligible"] == serde_json::Value::Bool(true));
    Ok(if synchronised { "swk" } else { "hwk" })
}

/// Builds the relying party from the issuer (or the configured id and origins).
fn relying_party(config: &Config) -> Result<Webauthn, String> {
    let issuer = Url::parse(config.issuer()).map_err(|e| format!("issuer: {e}"))?;
    let host = issuer.host_str().ok_or("the issuer has no host")?.to_string();
    let settings = &config.passkeys;
    let rp_id = if settings.rp_id.is_empty() { host } else { settings.rp_id.clone() };
    if rp_id.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>().is_ok() {
        return Err(format!(
            "the relying-party id {rp_id} is an IP address, which browsers refuse: use a host name \
             (http://localhost:8080 on a developer's machine) or set passkeys.rp_id"
        ));
    }
    let origin = Url::parse(&issuer.origin().ascii_serialization()).map_err(|e| format!("issuer origin: {e}"))?;
    let mut builder = WebauthnBuilder::new(&rp_id, &origin)
        .map_err(|e| format!("relying-party id {rp_id} does not fit the issuer {origin}: {e}"))?
        .rp_name(&config.two_factor.issuer_label)
        .timeout(Duration::from_secs(config.passkeys.ceremony_ttl.max(30) as u64));
    for extra in &settings.origins {
        let url = Url::parse(extra).map_err(|e| format!("passkeys.origins: {extra}: {e}"))?;
        builder = builder.append_allowed_origin(&url);
    }
    builder.build().map_err(|e| format!("passkeys: {e}"))
}

fn with_factor(error: PasskeyError, row: &second_factor::Model) -> PasskeyError {
    match error {
        PasskeyError::CounterWentBack { .. } => {
            PasskeyError::CounterWentBack { factor_id: row.id.clone(), account_id: row.account_id.clone() }
        }
        other => other,
    }
}

fn open(secrets: &SecretBox, row: &second_factor::Model) -> Option<Passkey> {
    let text = secrets.open(&row.secret, &super::sealed_aad(&row.id)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Passkeys whose registration is complete (an unconfirmed one serves nothing).
fn active() -> sea_orm::Select<second_factor::Entity> {
    second_factor::Entity::find()
        .filter(second_factor::Column::Method.eq(METHOD))
        .filter(second_factor::Column::ConfirmedAt.is_not_null())
}

/// The account's active passkeys, with their rows.
async fn passkeys_of(
    db: &impl ConnectionTrait,
    secrets: &SecretBox,
    account_id: &str,
) -> Result<Vec<(second_factor::Model, Passkey)>, DomainError> {
    let rows = active().filter(second_factor::Column::AccountId.eq(account_id)).all(db).await?;
    Ok(rows.into_iter().filter_map(|row| open(secrets, &row).map(|passkey| (row, passkey))).collect())
}

/// The active passkey with this credential id (base64url).
async fn find(
    db: &impl ConnectionTrait,
    secrets: &SecretBox,
    credential_id: &str,
) -> Result<Option<(second_factor::Model, Passkey)>, DomainError> {
    let row = active().filter(second_factor::Column::CredentialId.eq(credential_id)).one(db).await?;
    Ok(row.and_then(|row| open(secrets, &row).map(|passkey| (row, passkey))))
}

async fn store(
    db: &impl ConnectionTrait,
    secrets: &SecretBox,
    account_id: &str,
    label: &str,
    passkey: &Passkey,
    confirmed: bool,
    now: i64,
) -> Result<String, PasskeyError> {
    let id = crypto::random_id();
    let sealed = serde_json::to_vec(passkey).map_err(|e| DomainError::Crypto(e.to_string()))?;
    let row = second_factor::ActiveModel {
        id: Set(id.clone()),
        account_id: Set(account_id.to_string()),
        method: Set(METHOD.into()),
        label: Set(label.chars().take(64).collect()),
        secret: Set(secrets.seal(&sealed, &super::sealed_aad(&id))),
        last_step: Set(None),
        confirmed_at: Set(confirmed.then_some(now)),
        created_at: Set(now),
        last_used_at: Set(None),
        credential_id: Set(Some(URL_SAFE_NO_PAD.encode(passkey.cred_id()))),
        pending_browser: Set(None),
    };
    match row.insert(db).await {
        Ok(_) => Ok(id),
        Err(error) if crate::storage::is_unique_violation(&error) => Err(PasskeyError::AlreadyRegistered),
        Err(error) => Err(DomainError::from(error).into()),
    }
}

/// Records a signature: the counter moves forward by an atomic compare (a copy of the
/// authenticator that signs with a counter already seen is refused, even in a race),
/// the stored credential follows the authenticator's flags, and the use is dated.
async fn record_use(
    db: &impl ConnectionTrait,
    secrets: &SecretBox,
    row: &second_factor::Model,
    mut passkey: Passkey,
    result: &webauthn_rs::prelude::AuthenticationResult,
    now: i64,
) -> Result<UsedPasskey, PasskeyError> {
    if !result.user_verified() {
        return Err(PasskeyError::UserNotVerified);
    }
    let counter = i64::from(result.counter());
    passkey.update_credential(result);
    let sealed = serde_json::to_vec(&passkey).map_err(|e| DomainError::Crypto(e.to_string()))?;
    let column = second_factor::Column::LastStep;
    // Authenticators without a counter always send 0 (synchronised passkeys): nothing
    // to compare. One that counts must count up.
    let moves_forward = if counter == 0 {
        Condition::any().add(column.is_null()).add(column.eq(0))
    } else {
        Condition::any().add(column.is_null()).add(column.lt(counter))
    };
    let updated = second_factor::Entity::update_many()
        .col_expr(column, Expr::value(counter))
        .col_expr(second_factor::Column::LastUsedAt, Expr::value(now))
        .col_expr(second_factor::Column::Secret, Expr::value(secrets.seal(&sealed, &super::sealed_aad(&row.id))))
        .filter(second_factor::Column::Id.eq(row.id.clone()))
        .filter(moves_forward)
        .exec(db)
        .await
        .map_err(DomainError::from)?;
    if updated.rows_affected != 1 {
        return Err(PasskeyError::CounterWentBack { factor_id: row.id.clone(), account_id: row.account_id.clone() });
    }
    let key_kind = if result.backup_eligible() { "swk" } else { "hwk" };
    Ok(UsedPasskey { factor_id: row.id.clone(), account_id: row.account_id.clone(), key_kind })
}

/// The AAGUID (authenticator model) in a registration's authenticator data: bytes 37 to
/// 53 of `authData`, present when the attested-credential flag is set.
fn aaguid_of(attestation_object: &[u8]) -> Option<Uuid> {
    use serde_cbor_2::Value;
    let Value::Map(map) = serde_cbor_2::from_slice::<Value>(attestation_object).ok()? else { return None };
    let Some(Value::Bytes(auth_data)) = map.get(&Value::Text("authData".into())) else { return None };
    const ATTESTED: u8 = 0x40;
    if auth_data.len() < 53 || auth_data[32] & ATTESTED == 0 {
        return None;
    }
    Uuid::from_slice(&auth_data[37..53]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_is_read_from_the_authenticator_data() {
        use serde_cbor_2::Value;
        let aaguid = Uuid::parse_str("cb69481e-8ff7-4039-93ec-0a2729a154a8").unwrap();
        let mut auth_data = vec![0u8; 32];
        auth_data.push(0x45); // user present, verified, attested credential data
        auth_data.extend([0, 0, 0, 1]);
        auth_data.extend(aaguid.as_bytes());
        auth_data.extend([0, 0]);
        let mut map = std::collections::BTreeMap::new();
        map.insert(Value::Text("fmt".into()), Value::Text("none".into()));
        map.insert(Value::Text("authData".into()), Value::Bytes(auth_data.clone()));
        let object = serde_cbor_2::to_vec(&Value::Map(map.clone())).unwrap();
        assert_eq!(aaguid_of(&object), Some(aaguid));
        auth_data[32] = 0x05;
        map.insert(Value::Text("authData".into()), Value::Bytes(auth_data));
        assert_eq!(aaguid_of(&serde_cbor_2::to_vec(&Value::Map(map)).unwrap()), None);
        assert_eq!(aaguid_of(b"not cbor"), None);
    }

    #[test]
    fn an_ip_address_is_no_relying_party() {
        let config = Config { issuer: "http://127.0.0.1:8080".into(), ..Config::default() };
        assert!(relying_party(&config).unwrap_err().contains("IP address"));
        let config = Config { issuer: "http://localhost:8080".into(), ..Config::default() };
        assert!(relying_party(&config).is_ok());
        let mut config = Config { issuer: "https://sso.etude.example/sesame".into(), ..Config::default() };
        config.passkeys.rp_id = "etude.example".into();
        assert!(relying_party(&config).is_ok());
        config.passkeys.rp_id = "other.example".into();
        assert!(relying_party(&config).is_err());
    }

    #[test]
    fn user_handles_are_stable_and_differ() {
        let config = Config::default();
        let passkeys = Passkeys::new(&config, [7; 32]);
        assert_eq!(passkeys.user_handle("a"), passkeys.user_handle("a"));
        assert_ne!(passkeys.user_handle("a"), passkeys.user_handle("b"));
    }
}
