//! When a login needs a second factor, and whether the account may enroll one now.
//! Pure rules: the caller gathers the facts.

use crate::accounts::Account;
use crate::config::TwoFactorConfig;

/// What the login must do after the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// Password only is enough.
    PasswordOnly,
    /// Ask for one of the account's second factors.
    Verify,
    /// The account has none yet: enroll one first. `confirm_by_email` when the first
    /// enrollment must be confirmed by a code mailed to the account.
    Enroll { confirm_by_email: bool },
    /// A second factor is needed but cannot be enrolled now.
    CannotEnroll(EnrollRefusal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrollRefusal {
    /// The administrator required two-factor too long ago: they must reopen enrollment.
    WindowClosed,
    /// Two-factor is asked by the application, not by the administrator, and nothing
    /// (no email address to confirm with) proves the enrollment is the owner's.
    NoWayToConfirm,
}

impl EnrollRefusal {
    /// The reason code, for the audit trail and the page's message key.
    pub fn code(self) -> &'static str {
        match self {
            Self::WindowClosed => "enrollment_window_closed",
            Self::NoWayToConfirm => "enrollment_not_confirmable",
        }
    }
}

/// Facts about the login at hand.
pub struct LoginFacts {
    /// The account has at least one active second factor.
    pub enrolled: bool,
    /// The client requires two-factor for every login.
    pub client_requires: bool,
    /// The authorization request asked for the two-factor `acr`.
    pub request_asks: bool,
    /// An account administrator asks for the administration scope while administrators
    /// must have a second factor (`two_factor.required_for_admins`).
    pub admin_login: bool,
}

/// The account's own switch, an enrolled factor (the user chose security), the client's
/// policy or the request's `acr_values` each call for a second factor.
pub fn requirement(account: &Account, facts: &LoginFacts, config: &TwoFactorConfig, now: i64) -> Requirement {
    let wanted = account.two_factor_required
        || facts.admin_login
        || facts.enrolled
        || facts.client_requires
        || facts.request_asks;
    if !wanted {
        return Requirement::PasswordOnly;
    }
    if facts.enrolled {
        return Requirement::Verify;
    }
    let can_mail = config.email_confirmation && account.email.is_some();
    if account.two_factor_required || facts.admin_login {
        let window_open = account.enrollment_opened_at.is_some_and(|opened| now < opened + config.enrollment_window);
        return if window_open {
            Requirement::Enroll { confirm_by_email: can_mail }
        } else if facts.admin_login && can_mail {
            // An administrator from before the rule: the mailed code proves the mailbox.
            Requirement::Enroll { confirm_by_email: true }
        } else {
            Requirement::CannotEnroll(EnrollRefusal::WindowClosed)
        };
    }
    // Asked by the application only: no administrator opened a window, so the mailed
    // code is what stops a password thief from binding their phone.
    if can_mail {
        Requirement::Enroll { confirm_by_email: true }
    } else {
        Requirement::CannotEnroll(EnrollRefusal::NoWayToConfirm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(required: bool, opened: Option<i64>, email: bool) -> Account {
        Account {
            id: "a".into(),
            username: "pauline".into(),
            password_hash: String::new(),
            first_name: String::new(),
            last_name: String::new(),
            initials: String::new(),
            email: email.then(|| "p@example.org".into()),
            email_verified: false,
            phone: None,
            address: None,
            archived: false,
            two_factor_required: required,
            account_admin: false,
            admin_locked_at: None,
            preferred_method: None,
            enrollment_opened_at: opened,
            sms_disabled: false,
            push_locked_until: None,
            language: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn facts(enrolled: bool, client: bool, request: bool) -> LoginFacts {
        LoginFacts { enrolled, client_requires: client, request_asks: request, admin_login: false }
    }

    fn admin_login() -> LoginFacts {
        LoginFacts { enrolled: false, client_requires: false, request_asks: false, admin_login: true }
    }

    #[test]
    fn the_rules() {
        let config = TwoFactorConfig::default();
        let now = 1_000_000;
        let day = 86_400;
        use Requirement::*;
        let cases = [
            (account(false, None, true), facts(false, false, false), PasswordOnly),
            (account(false, None, true), facts(true, false, false), Verify),
            (account(true, Some(now - day), true), facts(false, false, false), Enroll { confirm_by_email: true }),
            (account(true, Some(now - day), false), facts(false, false, false), Enroll { confirm_by_email: false }),
            (
                account(true, Some(now - 15 * day), true),
                facts(false, false, false),
                CannotEnroll(EnrollRefusal::WindowClosed),
            ),
            (account(true, Some(now - 15 * day), true), facts(true, false, false), Verify),
            (account(false, None, true), facts(false, true, false), Enroll { confirm_by_email: true }),
            (account(false, None, true), facts(false, false, true), Enroll { confirm_by_email: true }),
            (account(false, None, false), facts(false, false, true), CannotEnroll(EnrollRefusal::NoWayToConfirm)),
            (account(false, Some(now - day), false), admin_login(), Enroll { confirm_by_email: false }),
            (account(false, None, true), admin_login(), Enroll { confirm_by_email: true }),
            (account(false, None, false), admin_login(), CannotEnroll(EnrollRefusal::WindowClosed)),
        ];
        for (i, (account, facts, expected)) in cases.into_iter().enumerate() {
            assert_eq!(requirement(&account, &facts, &config, now), expected, "case {i}");
        }
    }
}
