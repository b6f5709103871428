use super::*;

#[test]
fn defaults_are_valid() {
    assert!(Config::default().validate().is_ok());
}

#[test]
fn mistyped_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "listne = \"127.0.0.1:1\"\n").unwrap();
    let error = Config::load(Some(&file)).unwrap_err().to_string();
    assert!(error.contains("listne"), "{error}");
}

#[test]
fn sqlite_is_the_default_database() {
    let config = Config::default();
    assert!(config.database_url().starts_with("sqlite://"));
}

/// config/default.toml documents every key with its default: keep them in step.
#[test]
fn default_toml_matches_the_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
    let from_file: Config = Figment::from(Toml::file_exact(&path)).extract().unwrap();
    let defaults = Config::default();
    assert_eq!(
        serde_json::to_value(&from_file).unwrap(),
        serde_json::to_value(&defaults).unwrap(),
        "config/default.toml and Config::default() differ"
    );
}

#[test]
fn example_files_load() {
    for name in [
        "demo.toml",
        "postgres.toml",
        "conformance.toml",
        "sms-ovhcloud.toml",
        "sms-twilio.toml",
        "sms-brevo.toml",
        "sms-vonage.toml",
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config").join(name);
        let parsed: Result<Config, _> =
            Figment::from(Serialized::defaults(Config::default())).merge(Toml::file_exact(&path)).extract();
        assert!(parsed.is_ok(), "{name}: {parsed:?}");
    }
}

#[test]
fn a_mistyped_authenticator_model_is_refused_not_ignored() {
    let mut config = Config::default();
    config.passkeys.allowed_aaguids = vec!["cb69481e-8ff7-4039-93ec-0a2729a154a8".into()];
    assert!(config.validate().is_ok());
    config.passkeys.allowed_aaguids.push("cb69481e-yubikey".into());
    let error = config.validate().unwrap_err().to_string();
    assert!(error.contains("passkeys.allowed_aaguids") && error.contains("cb69481e-yubikey"), "{error}");
    let config =
        Config { passkeys: PasskeyConfig { ceremony_ttl: 0, ..PasskeyConfig::default() }, ..Config::default() };
    assert!(config.validate().unwrap_err().to_string().contains("passkeys.ceremony_ttl"));
}

#[test]
fn open_registration_with_loose_fetch_policy_is_warned_about() {
    let mut config = Config::default();
    config.fetch.allow_private_addresses = true;
    config.fetch.allow_http_loopback = true;
    assert!(config.warnings().is_empty(), "closed registration: the office's own clients only");
    config.registration.enabled = true;
    config.registration.open = true;
    let warnings = config.warnings();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("fetch.allow_private_addresses") && warnings[1].contains("fetch.allow_http_loopback"));
    config.fetch = FetchConfig::default();
    assert!(config.warnings().is_empty());
}
