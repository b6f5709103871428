//! What would hurt in production, found before it does: `sesame check` prints these
//! findings, and `serve` runs the same checks at start, logging the warnings and
//! refusing to start on a fatal one.
//!
//! Fatal means the server could not work: the database unreachable, written by a newer
//! version, or the master key unable to open the signing keys. Everything else is a
//! warning, because each has a legitimate use (a test instance behind TLS that reads
//! its codes from the outbox, a key mounted by a secret store with its own modes): the
//! operator reads the problem and what to do, and decides.

use std::fmt;
use std::path::Path;

use crate::config::Config;
use crate::crypto::secretbox::SecretBox;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Nothing wrong: what the first start will do (create the database, the key).
    Note,
    Warning,
    Fatal,
}

/// One problem, in words an operator can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// What is wrong, naming the key or the file.
    pub problem: String,
    /// What to do about it.
    pub remedy: String,
}

impl Finding {
    fn warning(problem: impl Into<String>, remedy: impl Into<String>) -> Self {
        Self { severity: Severity::Warning, problem: problem.into(), remedy: remedy.into() }
    }

    fn note(problem: impl Into<String>, remedy: impl Into<String>) -> Self {
        Self { severity: Severity::Note, problem: problem.into(), remedy: remedy.into() }
    }

    fn fatal(problem: impl Into<String>, remedy: impl Into<String>) -> Self {
        Self { severity: Severity::Fatal, problem: problem.into(), remedy: remedy.into() }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Fatal => "fatal",
        };
        write!(f, "{label}: {}\n  what to do: {}", self.problem, self.remedy)
    }
}

/// Every finding: the configuration's, then the master key's and the database's.
pub async fn run(config: &Config, file: Option<&Path>) -> Vec<Finding> {
    let mut findings = of_config(config);
    findings.extend(file.map(of_config_file).unwrap_or_default());
    findings.extend(of_theme(config));
    findings.extend(of_mail_server(config).await);
    let (database, holds_data) = of_database(config).await;
    findings.extend(of_master_key_file(config, holds_data));
    findings.extend(database);
    findings
}

/// What the configuration alone tells.
pub fn of_config(config: &Config) -> Vec<Finding> {
    let mut findings = Vec::new();
    let keys = [
        ("master_key", &config.master_key, "master_key_file", &config.master_key_file),
        (
            "previous_master_key",
            &config.previous_master_key,
            "previous_master_key_file",
            &config.previous_master_key_file,
        ),
    ];
    for (inline, inline_value, file, file_value) in keys {
        if !inline_value.is_empty() && !file_value.is_empty() {
            findings.push(Finding::warning(
                format!("both `{inline}` and `{file}` are set: `{inline}` is used and the file is ignored"),
                format!(
                    "keep one: remove `{inline}` (or SESAME_{}, perhaps in an environment file)",
                    inline.to_uppercase()
                ),
            ));
        }
    }
    let https = config.secure_cookies();
    if https && matches!(config.mail.transport.as_str(), "outbox" | "log") {
        findings.push(Finding::warning(
            format!(
                "the issuer is https (a deployment) but `mail.transport` is \"{}\": codes, password resets and alerts \
                 go to {}, and nobody receives them",
                config.mail.transport,
                if config.mail.transport == "log" { "the log" } else { "the outbox file" }
            ),
            "set `mail.transport = \"smtp\"` with `mail.smtp_host`, `mail.smtp_username` and `mail.smtp_password` \
             (README, Configuration)",
        ));
    }
    if https && config.sms.enabled && matches!(config.sms.provider.as_str(), "outbox" | "log") {
        findings.push(Finding::warning(
            format!(
                "the issuer is https but `sms.provider` is \"{}\": login codes by text message reach no phone",
                config.sms.provider
            ),
            "set `sms.provider = \"http\"` with your provider's `[sms.http]` (config/sms-*.toml are examples), or \
             `sms.enabled = false`",
        ));
    }
    if !https && !config.issuer_is_local() {
        findings.push(Finding::warning(
            format!(
                "the issuer `{}` is plain http on another machine than this one: passwords, codes and tokens cross \
                 the network in clear, and cookies are not marked Secure",
                config.issuer()
            ),
            "put Sésame behind a reverse proxy that serves https (deploy/Caddyfile, deploy/nginx.conf) and set \
             `issuer = \"https://…\"`",
        ));
    }
    if config.demo == Some(true) && !config.issuer_is_local() {
        findings.push(Finding::warning(
            "`demo = true` on an issuer that is not this machine: the demo accounts, whose passwords are in the \
             README, can sign in",
            "set `demo = false` (or leave it out) and remove the demo accounts (`sesame user set NAME --archived true`)",
        ));
    }
    if let Ok(address) = config.metrics.listen.parse::<std::net::SocketAddr>()
        && !address.ip().is_loopback()
    {
        findings.push(Finding::warning(
            format!(
                "`metrics.listen` is {address}: anyone who reaches that address reads /metrics (login counts, \
                 failures, load)"
            ),
            "listen on 127.0.0.1 or an internal interface that a firewall keeps to the monitoring server",
        ));
    }
    for range in config.trusted_proxies.iter().filter(|range| range.is_wide()) {
        findings.push(Finding::warning(
            format!(
                "`trusted_proxies` holds {range}, a range wider than proxies need: clients in it are believed when \
                 they write X-Forwarded-For themselves, and choose their address for rate limits and the audit"
            ),
            "list only the proxies' own addresses, or their narrow subnet (a /24, a /64)",
        ));
    }
    findings.extend(of_placeholders(config));
    for warning in config.warnings() {
        findings.push(Finding::warning(warning, "see docs/security.md, section 12"));
    }
    findings
}

/// Domains reserved for examples (RFC 2606, RFC 6761): a value still naming one was
/// copied from a sample and never filled in.
fn is_placeholder_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "example"
        || host.ends_with(".example")
        || ["example.com", "example.org", "example.net"].iter().any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

/// Values left as the samples wrote them (deploy/sesame.toml's `sso.office.example`).
fn of_placeholders(config: &Config) -> Vec<Finding> {
    let mut findings = Vec::new();
    let issuer_host = url::Url::parse(config.issuer()).ok().and_then(|url| url.host_str().map(str::to_string));
    if let Some(host) = issuer_host.filter(|host| is_placeholder_host(host)) {
        findings.push(Finding::warning(
            format!("the issuer's host `{host}` is an example domain: browsers and applications cannot reach it"),
            "set `issuer` to the address people will use (https://sso.your-office.fr)",
        ));
    }
    if config.mail.transport == "smtp" && is_placeholder_host(&config.mail.smtp_host) {
        findings.push(Finding::warning(
            format!("`mail.smtp_host` is `{}`, an example domain", config.mail.smtp_host),
            "set your mail server's name (your provider's SMTP relay)",
        ));
    }
    let sender_domain = config.mail.from.rsplit('@').next().unwrap_or_default().trim_end_matches('>');
    if config.mail.transport == "smtp" && is_placeholder_host(sender_domain) {
        findings.push(Finding::warning(
            format!("`mail.from` is `{}`, an address of an example domain: mail servers refuse it", config.mail.from),
            "set an address of your office's domain, one your mail server may send from",
        ));
    }
    findings
}

/// Names of configuration keys that hold secrets.
fn is_secret_key(name: &str) -> bool {
    name.ends_with("master_key")
        || name.ends_with("password")
        || name == "token"
        || name.ends_with("_token")
        || name.ends_with("secret")
}

/// A value that carries a secret whatever its key: a URL with a password
/// (`postgres://user:pass@host/db`).
fn holds_a_password(value: &str) -> bool {
    url::Url::parse(value).is_ok_and(|url| url.password().is_some_and(|p| !p.is_empty()))
}

/// The configuration file: secrets written in it while other users may read it.
fn of_config_file(file: &Path) -> Vec<Finding> {
    let (Ok(metadata), Ok(text)) = (std::fs::metadata(file), std::fs::read_to_string(file)) else {
        return Vec::new();
    };
    if !world_readable(&metadata) {
        return Vec::new();
    }
    let Ok(table) = text.parse::<toml::Table>() else { return Vec::new() };
    let mut secrets = Vec::new();
    secret_keys(&table, "", &mut secrets);
    if secrets.is_empty() {
        return Vec::new();
    }
    vec![Finding::warning(
        format!("{} holds secrets ({}) and every user of this machine can read it", file.display(), secrets.join(", ")),
        format!(
            "chmod 640 {} (owner root, group of the user that runs Sésame), or move the secrets to an environment              file (SESAME_MAIL__SMTP_PASSWORD=…) or `master_key_file`",
            file.display()
        ),
    )]
}

fn secret_keys(table: &toml::Table, prefix: &str, found: &mut Vec<String>) {
    for (name, value) in table {
        let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
        match value {
            toml::Value::Table(inner) => secret_keys(inner, &path, found),
            // Headers sent to a provider (`sms.http.headers`) are its credentials.
            toml::Value::String(text) if !text.is_empty() && (is_secret_key(name) || prefix.ends_with("headers")) => {
                found.push(format!("`{path}`"))
            }
            toml::Value::String(text) if holds_a_password(text) => found.push(format!("`{path}`")),
            _ => {}
        }
    }
}

/// The theme a start would load: a folder that is missing or broken stops the start.
fn of_theme(config: &Config) -> Vec<Finding> {
    match crate::theme::Theme::load(&config.theme) {
        Ok(_) => Vec::new(),
        Err(error) => vec![Finding::fatal(
            error.to_string(),
            format!(
                "check `theme.name` and `theme.dir` (relative paths start from the working directory, {}); a theme                  needs templates/ and i18n/fr.toml and en.toml, or use the built-in one (`theme.name = \"default\"`)",
                std::env::current_dir().map(|dir| dir.display().to_string()).unwrap_or_else(|_| "unknown".into())
            ),
        )],
    }
}

/// The SMTP server, when mail goes through one: reached, TLS and sign-in accepted.
async fn of_mail_server(config: &Config) -> Vec<Finding> {
    if config.mail.transport != "smtp" {
        return Vec::new();
    }
    let mail = &config.mail;
    let server = format!("{}:{}", mail.smtp_host, mail.smtp_port);
    let tested = match crate::mail::Mailer::from_config(config) {
        Ok(mailer) => mailer.test().await,
        Err(error) => Err(error),
    };
    match tested {
        Ok(()) => Vec::new(),
        Err(error) => vec![Finding::warning(
            format!("the mail server {server} cannot be used: {error}; codes and alerts would not be mailed"),
            "check `mail.smtp_host`, `mail.smtp_port`, `mail.smtp_tls` (starttls, tls, none) and the credentials              (`mail.smtp_username`, `mail.smtp_password`), and that a firewall lets this machine reach the server",
        )],
    }
}

/// The master key file, when the key is read from one: its modes. A missing file is
/// only announced as "the first start creates it" while no database needs it (one that
/// does makes it a fatal finding of its own).
fn of_master_key_file(config: &Config, database_holds_data: bool) -> Vec<Finding> {
    if !config.master_key.is_empty() {
        return Vec::new();
    }
    let (path, created_at_first_start) = config.master_key_path();
    match std::fs::metadata(&path) {
        Ok(metadata) if readable_by_others(&metadata) => vec![Finding::warning(
            format!("the master key file {} can be read by other users of this machine", path.display()),
            format!("chmod 600 {} (owned by the user that runs Sésame)", path.display()),
        )],
        Ok(_) => Vec::new(),
        Err(_) if !created_at_first_start => vec![Finding::fatal(
            format!("`master_key_file` names {}, which cannot be read", path.display()),
            "mount or copy the master key there (base64 of 32 bytes), readable by the user that runs Sésame",
        )],
        Err(_) if database_holds_data => Vec::new(),
        Err(_) => vec![Finding::note(
            format!("there is no master key yet: the first start creates {}", path.display()),
            "after the first start, keep a copy of that file apart from the database backups: without it, signing \
             keys and every enrolled authenticator are lost",
        )],
    }
}

#[cfg(unix)]
fn readable_by_others(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o077 != 0
}

#[cfg(not(unix))]
fn readable_by_others(_: &std::fs::Metadata) -> bool {
    false
}

/// Readable by users outside the file's owner and group.
#[cfg(unix)]
fn world_readable(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o004 != 0
}

#[cfg(not(unix))]
fn world_readable(_: &std::fs::Metadata) -> bool {
    false
}

/// The database: reachable, its schema not newer than this version, and its signing
/// keys opened by the master key; and whether it holds data (a schema of this version,
/// whose secrets need the master key). Nothing is written: a SQLite database that does
/// not exist yet is not created.
async fn of_database(config: &Config) -> (Vec<Finding>, bool) {
    let url = config.database_url();
    let sqlite = crate::storage::sqlite_path(&url).map(Path::new);
    if let Some(file) = sqlite.filter(|file| !file.exists()) {
        let finding = Finding::note(
            format!("there is no database yet: the first start creates {}", file.display()),
            "nothing, unless you expected an existing one: then check `data_dir` or `database_url`",
        );
        return (vec![finding], false);
    }
    let opened = match sqlite {
        Some(file) => crate::storage::open_sqlite_read_only(file).await,
        None => crate::storage::connect(&url).await,
    };
    let db = match opened {
        Ok(db) => db,
        Err(error) => {
            let finding = Finding::fatal(
                error.to_string(),
                "check `database_url` (host, port, database, user) and that the database server runs",
            );
            return (vec![finding], false);
        }
    };
    let finding = match crate::storage::schema(&db).await {
        Ok(schema) if !schema.unknown.is_empty() => Finding::fatal(
            crate::storage::StorageError::NewerSchema(schema.unknown.join(", ")).to_string(),
            "upgrade this node to the version the other nodes run (README, Production: upgrades)",
        ),
        Ok(schema) if !schema.pending.is_empty() => Finding::warning(
            format!("{} migrations of this version are not applied yet", schema.pending.len()),
            "`sesame migrate` applies them, as does the next start; back the database up first",
        ),
        Ok(_) => return (of_master_key(config, &db).await, true),
        Err(error) => Finding::fatal(
            format!("cannot read the database's schema: {error}"),
            "check that `database_url` names Sésame's database and that its user may read it",
        ),
    };
    (vec![finding], false)
}

/// Opens every stored signing key with the master key, as a start would, and says
/// where a master-key rotation stands.
async fn of_master_key(config: &Config, db: &crate::storage::Db) -> Vec<Finding> {
    let (path, _) = config.master_key_path();
    if config.master_key.is_empty() && !path.exists() {
        return vec![Finding::fatal(
            format!("the database holds data but the master key file {} is missing", path.display()),
            "restore the master key from where you keep it (or set `master_key`); a new key cannot open the \
             signing keys or the authenticators",
        )];
    }
    // The file exists (or the key is in the configuration), so reading the key the way
    // a start does creates nothing.
    let secrets = match crate::master_key::load(config, false) {
        Ok(secrets) => secrets,
        Err(error @ crate::crypto::secretbox::SecretBoxError::KeyFile { .. }) => {
            return vec![Finding::fatal(
                format!("the master key cannot be read: {error}"),
                "let the user that runs Sésame read the file (its owner, mode 600)",
            )];
        }
        Err(error) => {
            return vec![Finding::fatal(
                format!("the master key cannot be read: {error}"),
                "the key is base64 of 32 bytes (`sesame master-key new FILE`); restore the one this database was \
                 made with",
            )];
        }
    };
    let census = match crate::master_key::census(db).await {
        Ok(census) => census,
        Err(error) => {
            return vec![Finding::fatal(format!("cannot read the stored secrets: {error}"), "check the database")];
        }
    };
    let mut findings = of_rotation(&secrets, &census);
    if findings.iter().any(|finding| finding.severity == Severity::Fatal) {
        return findings;
    }
    if let Err(error) = crate::crypto::keys::check_sealed(db, &secrets).await {
        findings.push(Finding::fatal(
            format!("the master key does not open the stored signing keys: {error}"),
            "use the master key this database was made with (every node needs the same one)",
        ));
    }
    findings
}

/// Whether the configured keys open what is stored, and what is left of a rotation.
fn of_rotation(secrets: &SecretBox, census: &crate::master_key::Census) -> Vec<Finding> {
    let mut findings = Vec::new();
    if let Some(sealing) = census.sealing_key.as_deref().filter(|key| !secrets.holds(key)) {
        return vec![Finding::fatal(
            format!(
                "the master key does not open the stored signing keys: the database seals new secrets with master \
                 key `{sealing}`, which is not configured (this one is `{}`)",
                secrets.key_id()
            ),
            "use the master key this database was made with, as `master_key` (or as `previous_master_key` during \
             a rotation), on every node",
        )];
    }
    let unopenable = census.unopenable(secrets);
    if unopenable > 0 {
        findings.push(Finding::fatal(
            format!("{unopenable} stored secrets are sealed under a master key that is not configured"),
            "configure the key they were sealed with as `previous_master_key` and run `sesame master-key rotate` \
             (`sesame master-key status` lists them by key)",
        ));
    }
    let Some(previous) = secrets.previous_key_id() else { return findings };
    if census.sealing_key.as_deref() == Some(previous) {
        findings.push(Finding::warning(
            "a master-key rotation is prepared but has not begun (new secrets are still sealed with the previous key)",
            "once every node has both keys, run `sesame master-key rotate`",
        ));
    } else if census.not_under(secrets.key_id()) > 0 {
        findings.push(Finding::warning(
            format!(
                "the master-key rotation is not finished: {} stored secrets are still under the previous key",
                census.not_under(secrets.key_id())
            ),
            "run `sesame master-key rotate` again",
        ));
    } else if findings.is_empty() {
        findings.push(Finding::warning(
            "`previous_master_key` is still configured, but nothing stored needs it any more",
            "remove it from every node once the delay `sesame master-key rotate` printed has passed, then keep the old \
             key only beside the backups made before the rotation, which need it",
        ));
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(findings: &[Finding]) -> String {
        findings.iter().map(|f| f.problem.as_str()).collect::<Vec<_>>().join(" | ")
    }

    #[test]
    fn a_developers_machine_has_nothing_to_warn_about() {
        assert_eq!(of_config(&Config::default()), Vec::new());
    }

    #[test]
    fn a_deployment_that_would_not_reach_people_is_warned_about() {
        let mut config = Config { issuer: "https://sso.office.example".into(), ..Config::default() };
        config.sms.enabled = true;
        config.metrics.listen = "0.0.0.0:9464".into();
        config.demo = Some(true);
        let findings = of_config(&config);
        let text = problems(&findings);
        assert!(findings.iter().all(|f| f.severity == Severity::Warning), "{text}");
        for expected in ["`mail.transport` is \"outbox\"", "`sms.provider` is \"outbox\"", "metrics.listen", "demo"] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
        config.issuer = "http://sso.office.example".into();
        assert!(problems(&of_config(&config)).contains("plain http on another machine"));
    }

    #[test]
    fn values_copied_from_the_samples_are_named() {
        for host in ["sso.office.example", "example.com", "smtp.example.org", "EXAMPLE.NET."] {
            assert!(is_placeholder_host(host), "{host}");
        }
        for host in ["sso.etude-dupont.fr", "example.fr", "myexample.com"] {
            assert!(!is_placeholder_host(host), "{host}");
        }
        let mut config = Config { issuer: "https://sso.office.example".into(), ..Config::default() };
        config.mail.transport = "smtp".into();
        config.mail.smtp_host = "smtp.office.example".into();
        config.mail.from = "Sésame <sesame@office.example>".into();
        let text = problems(&of_placeholders(&config));
        for expected in ["issuer's host", "`mail.smtp_host`", "`mail.from`"] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
    }

    #[test]
    fn secrets_in_a_configuration_file_are_found_by_their_names() {
        let table: toml::Table = toml::from_str(
            "issuer = \"x\"\nmaster_key = \"abc\"\n[mail]\nsmtp_password = \"p\"\nsmtp_username = \"u\"\n\
             [metrics]\nbearer_token = \"\"\n[sms.http]\npassword = \"q\"\ntoken = \"t\"\n\
             [sms.http.headers]\nX-Api-Key = \"k\"\n[database]\nurl = \"postgres://u:pw@db/sesame\"\n",
        )
        .unwrap();
        let mut found = Vec::new();
        secret_keys(&table, "", &mut found);
        found.sort();
        assert_eq!(
            found,
            [
                "`database.url`",
                "`mail.smtp_password`",
                "`master_key`",
                "`sms.http.headers.X-Api-Key`",
                "`sms.http.password`",
                "`sms.http.token`"
            ]
        );
    }
}
