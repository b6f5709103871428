//! Authenticator apps (TOTP, RFC 6238): a 160-bit secret from the OS generator, sealed
//! with the master key, active only once a correct code was entered; a code is accepted
//! once (the last accepted time step is stored and moved forward atomically, so two
//! nodes cannot both accept it).

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    sea_query::Expr,
};
use totp_rs::{Algorithm, Builder, Totp};

use crate::config::TwoFactorConfig;
use crate::crypto::{self, secretbox::SecretBox};
use crate::domain::DomainError;
use crate::storage::{Db, entities::second_factor};

/// What the "Scan the QR code" page shows for a secret being enrolled (the template
/// `totp_scan.html` draws it).
#[derive(serde::Serialize)]
pub struct Enrollment {
    pub factor_id: String,
    /// Base32, grouped by four characters for typing.
    pub secret_grouped: String,
    pub account_name: String,
    pub issuer: String,
    /// The `otpauth://totp/…` URI the QR code holds.
    pub uri: String,
    /// The QR code as inline SVG.
    pub qr_svg: String,
}

fn build(config: &TwoFactorConfig, secret: &[u8], account_name: &str) -> Result<Totp, DomainError> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(config.totp_digits)
        .with_skew(config.totp_skew)
        .with_step_duration(config.totp_period)
        .with_secret(secret.to_vec())
        .with_issuer(Some(config.issuer_label.replace(':', " ")))
        .with_account_name(account_name.replace(':', " "))
        .build()
        .map_err(|e| DomainError::invalid("totp", format!("TOTP parameters refused: {e}")))
}

/// How long a login restarted in the same browser shows the same unconfirmed secret.
const RESUME_WITHIN: i64 = 24 * 3600;

/// Starts enrolling a new authenticator app for the account: a fresh secret, stored
/// sealed and not yet active; at a login, bound to the browser it is shown to.
pub async fn begin(
    db: &Db,
    secrets: &SecretBox,
    account_id: &str,
    label: &str,
    browser: Option<&str>,
    now: i64,
) -> Result<String, DomainError> {
    let id = crypto::random_id();
    let secret = zeroize::Zeroizing::new(crypto::random_bytes::<20>());
    second_factor::ActiveModel {
        id: Set(id.clone()),
        account_id: Set(account_id.to_string()),
        method: Set("totp".into()),
        label: Set(label.to_string()),
        secret: Set(secrets.seal(secret.as_ref(), &super::sealed_aad(&id))),
        last_step: Set(None),
        confirmed_at: Set(None),
        created_at: Set(now),
        last_used_at: Set(None),
        credential_id: Set(None),
        pending_browser: Set(browser.map(str::to_string)),
    }
    .insert(db)
    .await?;
    Ok(id)
}

/// The secret this browser was already shown at a login of the account and that is not
/// confirmed yet, so that the app does not collect a stale entry per attempt; else a
/// new one. Another browser (a password thief's) never gets a secret shown elsewhere.
pub async fn resume_or_begin(
    db: &Db,
    secrets: &SecretBox,
    account_id: &str,
    label: &str,
    browser: &str,
    now: i64,
) -> Result<Shown, DomainError> {
    let shown = second_factor::Entity::find()
        .filter(second_factor::Column::AccountId.eq(account_id))
        .filter(second_factor::Column::Method.eq("totp"))
        .filter(second_factor::Column::ConfirmedAt.is_null())
        .filter(second_factor::Column::PendingBrowser.eq(browser))
        .filter(second_factor::Column::CreatedAt.gt(now - RESUME_WITHIN))
        .order_by_desc(second_factor::Column::CreatedAt)
        .one(db)
        .await?;
    if let Some(row) = shown {
        return Ok(Shown { factor_id: row.id, replaces_earlier: false });
    }
    // A secret shown at an earlier login (another browser, or too long ago) may be in
    // the app already: the page will say to delete that entry.
    let earlier = second_factor::Entity::find()
        .filter(second_factor::Column::AccountId.eq(account_id))
        .filter(second_factor::Column::Method.eq("totp"))
        .filter(second_factor::Column::ConfirmedAt.is_null())
        .filter(second_factor::Column::PendingBrowser.is_not_null())
        .count(db)
        .await?;
    let factor_id = begin(db, secrets, account_id, label, Some(browser), now).await?;
    Ok(Shown { factor_id, replaces_earlier: earlier > 0 })
}

/// The secret a login's enrollment shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub factor_id: String,
    /// A new secret while another, shown at an earlier login, was never confirmed.
    pub replaces_earlier: bool,
}

fn load(
    secrets: &SecretBox,
    config: &TwoFactorConfig,
    row: &second_factor::Model,
    account_name: &str,
) -> Result<Totp, DomainError> {
    let secret = secrets
        .open(&row.secret, &super::sealed_aad(&row.id))
        .map_err(|_| DomainError::invalid("totp", "this authenticator's secret cannot be read with the master key"))?;
    build(config, &secret, account_name)
}

async fn pending_row(db: &Db, account_id: &str, factor_id: &str) -> Result<Option<second_factor::Model>, DomainError> {
    Ok(second_factor::Entity::find_by_id(factor_id.to_string())
        .filter(second_factor::Column::AccountId.eq(account_id))
        .filter(second_factor::Column::Method.eq("totp"))
        .filter(second_factor::Column::ConfirmedAt.is_null())
        .one(db)
        .await?)
}

/// What to show for a secret being enrolled; `None` if it is gone (enrolled or restarted).
pub async fn enrollment(
    db: &Db,
    secrets: &SecretBox,
    config: &TwoFactorConfig,
    account_id: &str,
    account_name: &str,
    factor_id: &str,
) -> Result<Option<Enrollment>, DomainError> {
    let Some(row) = pending_row(db, account_id, factor_id).await? else {
        return Ok(None);
    };
    let totp = load(secrets, config, &row, account_name)?;
    let uri = totp.to_url().map_err(|e| DomainError::invalid("totp", e.to_string()))?;
    let base32 = totp.secret().to_base32();
    let secret_grouped =
        base32.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>();
    Ok(Some(Enrollment {
        factor_id: row.id,
        secret_grouped: secret_grouped.join(" "),
        account_name: account_name.to_string(),
        issuer: config.issuer_label.clone(),
        qr_svg: qr_svg(&uri),
        uri,
    }))
}

/// A QR code as inline SVG (no image request, so it works under the strict CSP).
pub fn qr_svg(content: &str) -> String {
    match qrcode::QrCode::with_error_correction_level(content, qrcode::EcLevel::M) {
        Ok(code) => {
            let svg = code
                .render::<qrcode::render::svg::Color>()
                .min_dimensions(220, 220)
                .quiet_zone(true)
                .dark_color(qrcode::render::svg::Color("#000"))
                .light_color(qrcode::render::svg::Color("#fff"))
                .build();
            // Inline in HTML: drop the XML declaration.
            match svg.find("<svg") {
                Some(start) => svg[start..].to_string(),
                None => svg,
            }
        }
        Err(_) => String::new(),
    }
}

/// The time step `code` matches for the raw `secret` within the allowed skew: what a
/// login pays per authenticator app before the database claims the step.
pub fn code_step(secret: &[u8], config: &TwoFactorConfig, code: &str, now: i64) -> Option<i64> {
    matched_step(&build(config, secret, "").ok()?, config, code, now)
}

/// The time step `code` matches within the allowed skew, comparing in constant time.
fn matched_step(totp: &Totp, config: &TwoFactorConfig, code: &str, now: i64) -> Option<i64> {
    let code: String = code.chars().filter(char::is_ascii_digit).collect();
    if code.len() != usize::from(config.totp_digits) {
        return None;
    }
    let now = u64::try_from(now).ok()?;
    let current = now / config.totp_period;
    let skew = u64::from(config.totp_skew);
    let mut matched = None;
    for step in current.saturating_sub(skew)..=current + skew {
        let expected = totp.generate(step * config.totp_period).to_string();
        if crypto::constant_time_eq(expected.as_bytes(), code.as_bytes()) {
            matched = Some(step);
        }
    }
    matched.and_then(|step| i64::try_from(step).ok())
}

/// Moves the factor's last accepted step forward to `step`, if no one accepted it (or a
/// later one) before: the database decides, so a code works once across every node.
async fn claim_step(db: &Db, factor_id: &str, step: i64, now: i64) -> Result<bool, DomainError> {
    let result = second_factor::Entity::update_many()
        .col_expr(second_factor::Column::LastStep, Expr::value(step))
        .col_expr(second_factor::Column::LastUsedAt, Expr::value(now))
        .filter(second_factor::Column::Id.eq(factor_id))
        .filter(
            Condition::any()
                .add(second_factor::Column::LastStep.is_null())
                .add(second_factor::Column::LastStep.lt(step)),
        )
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Checks a code against the secret being enrolled (which stays inactive).
pub async fn check_enrollment_code(
    db: &Db,
    secrets: &SecretBox,
    config: &TwoFactorConfig,
    account_id: &str,
    factor_id: &str,
    code: &str,
    now: i64,
) -> Result<bool, DomainError> {
    let Some(row) = pending_row(db, account_id, factor_id).await? else {
        return Ok(false);
    };
    let totp = load(secrets, config, &row, "")?;
    match matched_step(&totp, config, code, now) {
        Some(step) => claim_step(db, &row.id, step, now).await,
        None => Ok(false),
    }
}

/// Makes an enrolled secret active.
pub async fn activate(db: &Db, account_id: &str, factor_id: &str, now: i64) -> Result<bool, DomainError> {
    let result = second_factor::Entity::update_many()
        .col_expr(second_factor::Column::ConfirmedAt, Expr::value(now))
        .filter(second_factor::Column::Id.eq(factor_id))
        .filter(second_factor::Column::AccountId.eq(account_id))
        .filter(second_factor::Column::ConfirmedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Drops a secret that was never confirmed (enrollment restarted or abandoned).
pub async fn discard(db: &Db, account_id: &str, factor_id: &str) -> Result<(), DomainError> {
    second_factor::Entity::delete_many()
        .filter(second_factor::Column::Id.eq(factor_id))
        .filter(second_factor::Column::AccountId.eq(account_id))
        .filter(second_factor::Column::ConfirmedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Checks a login code against the active authenticator apps among `factors`, the
/// account's confirmed authenticators as the verification page read them a moment ago;
/// the id of the one it matched, if any. A code already accepted once is refused: the
/// step is claimed by an atomic update, which also finds nothing to claim on an
/// authenticator removed since.
pub async fn verify(
    db: &Db,
    secrets: &SecretBox,
    config: &TwoFactorConfig,
    factors: &[second_factor::Model],
    code: &str,
    now: i64,
) -> Result<Option<String>, DomainError> {
    for row in factors.iter().filter(|row| row.method == "totp" && row.confirmed_at.is_some()) {
        let totp = load(secrets, config, row, "")?;
        if let Some(step) = matched_step(&totp, config, code, now)
            && claim_step(db, &row.id, step, now).await?
        {
            return Ok(Some(row.id.clone()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(digits: u8) -> TwoFactorConfig {
        TwoFactorConfig { totp_digits: digits, totp_skew: 0, ..Default::default() }
    }

    /// RFC 6238 appendix B, SHA-1 column (8 digits, 30 s step, ASCII secret
    /// "12345678901234567890").
    #[test]
    fn rfc6238_test_vectors() {
        let secret = b"12345678901234567890";
        let vectors = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        let config = config(8);
        let totp = build(&config, secret, "test").unwrap();
        for (time, expected) in vectors {
            assert_eq!(totp.generate(time).to_string(), expected, "at {time}");
            assert!(matched_step(&totp, &config, expected, time as i64).is_some(), "check at {time}");
        }
    }

    #[test]
    fn skew_accepts_one_step_either_side_only() {
        let config = TwoFactorConfig::default();
        let totp = build(&config, b"12345678901234567890", "test").unwrap();
        let now = 1_700_000_000_i64;
        let code_at = |t: i64| totp.generate(t as u64).to_string();
        assert!(matched_step(&totp, &config, &code_at(now - 30), now).is_some());
        assert!(matched_step(&totp, &config, &code_at(now + 30), now).is_some());
        assert!(matched_step(&totp, &config, &code_at(now - 60), now).is_none());
        assert!(matched_step(&totp, &config, &code_at(now + 60), now).is_none());
        // Spaces as apps show them are fine; letters and wrong lengths are not.
        let code = code_at(now);
        assert!(matched_step(&totp, &config, &format!("{} {}", &code[..3], &code[3..]), now).is_some());
        assert!(matched_step(&totp, &config, &code[..5], now).is_none());
    }

    #[test]
    fn qr_code_is_inline_svg() {
        let svg = qr_svg("otpauth://totp/S%C3%A9same:pauline?secret=JBSWY3DPEHPK3PXP&issuer=S%C3%A9same");
        assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
    }
}
