//! The stages of a login in progress: what the user must do next, and the page where
//! they do it. Every move between stages is a compare-and-swap on the stored request
//! (see `pending`), so no step can be skipped by going to a later URL, going back,
//! replaying a form or racing two tabs.

use serde::{Deserialize, Serialize};

use super::request::AuthorizationRequest;

/// What a stored request waits for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    Login,
    /// The password of `account_id` was right (or its session is only password-strong);
    /// a second factor is due.
    SecondFactor {
        account_id: String,
        step: FactorStep,
    },
    /// The user is logged in (this session) and must approve the client.
    Consent {
        session_id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FactorStep {
    /// Prove one of the account's second factors.
    Verify,
    /// Enroll a first authenticator, page by page.
    Enroll { page: EnrollPage, confirm_by_email: bool },
    /// The second factor is proven (`amr` says how); a page tells the user something
    /// before the login continues.
    Passed { amr: Vec<String>, notice: Notice },
}

/// The enrollment pages, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "page", rename_all = "snake_case")]
pub enum EnrollPage {
    Intro,
    Install,
    AddAccount,
    /// The secret being enrolled, and the wrong codes typed for it so far.
    Scan {
        factor_id: String,
        wrong: u32,
    },
    /// Creating a passkey instead of adding an app (its own short path).
    Passkey,
    /// The code was right (or the passkey made); the mailed code must confirm it.
    Email {
        factor_id: String,
    },
}

impl EnrollPage {
    /// The page's name in its URL (`/login/enroll/{name}`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Intro => "intro",
            Self::Install => "install",
            Self::AddAccount => "add",
            Self::Passkey => "passkey",
            Self::Scan { .. } => "scan",
            Self::Email { .. } => "email",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum Notice {
    /// Enrollment finished: the "Done" page.
    Enrolled,
    /// A recovery code was used; this many are left.
    RecoveryUsed { remaining: u64 },
}

/// A login in progress: the request and its stage.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub id: String,
    pub request: AuthorizationRequest,
    pub stage: Stage,
    /// The stored text this was read from (empty while only sealed): a move is made only
    /// if it is still the same.
    #[serde(skip)]
    pub stored: String,
    /// Hash of the id of the browser it is bound to.
    #[serde(skip)]
    pub browser_hash: String,
    /// The sealed form it came in, while it is stored nowhere else (see `pending`).
    #[serde(skip)]
    pub sealed: Option<String>,
}

impl Pending {
    /// What pages and forms name it by: its sealed form until it is stored, then its id.
    pub fn tx(&self) -> &str {
        match &self.sealed {
            Some(sealed) if self.stored.is_empty() => sealed,
            _ => &self.id,
        }
    }

    /// Where the browser goes for this request's current stage.
    pub fn url(&self) -> String {
        let id = self.tx();
        match &self.stage {
            Stage::Login => format!("/login?tx={id}"),
            Stage::Consent { .. } => format!("/consent?tx={id}"),
            Stage::SecondFactor { step: FactorStep::Verify, .. } => format!("/login/verify?tx={id}"),
            Stage::SecondFactor { step: FactorStep::Enroll { page, .. }, .. } => {
                format!("/login/enroll/{}?tx={id}", page.name())
            }
            Stage::SecondFactor { step: FactorStep::Passed { notice: Notice::Enrolled, .. }, .. } => {
                format!("/login/enroll/done?tx={id}")
            }
            Stage::SecondFactor { step: FactorStep::Passed { .. }, .. } => format!("/login/verify/notice?tx={id}"),
        }
    }

    /// This request at another stage, not stored yet.
    pub fn at(&self, stage: Stage) -> Pending {
        Pending { stored: String::new(), stage, ..self.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::login::request::tests::request;

    fn pending(stage: Stage) -> Pending {
        Pending {
            id: "id1".into(),
            request: request(),
            stage,
            stored: String::new(),
            browser_hash: "b".into(),
            sealed: None,
        }
    }

    fn factor(step: FactorStep) -> Stage {
        Stage::SecondFactor { account_id: "a".into(), step }
    }

    #[test]
    fn every_stage_has_its_page() {
        let cases = [
            (Stage::Login, "/login?tx=id1"),
            (Stage::Consent { session_id: "s".into() }, "/consent?tx=id1"),
            (factor(FactorStep::Verify), "/login/verify?tx=id1"),
            (
                factor(FactorStep::Enroll {
                    page: EnrollPage::Scan { factor_id: "f".into(), wrong: 0 },
                    confirm_by_email: false,
                }),
                "/login/enroll/scan?tx=id1",
            ),
            (
                factor(FactorStep::Enroll { page: EnrollPage::AddAccount, confirm_by_email: true }),
                "/login/enroll/add?tx=id1",
            ),
            (
                factor(FactorStep::Passed { amr: vec!["otp".into()], notice: Notice::Enrolled }),
                "/login/enroll/done?tx=id1",
            ),
            (
                factor(FactorStep::Passed { amr: vec![], notice: Notice::RecoveryUsed { remaining: 3 } }),
                "/login/verify/notice?tx=id1",
            ),
        ];
        for (stage, url) in cases {
            assert_eq!(pending(stage).url(), url);
        }
    }

    #[test]
    fn a_sealed_login_is_named_by_its_seal_until_stored() {
        let mut sealed = pending(Stage::Login);
        sealed.sealed = Some("v1.sealed".into());
        assert_eq!(sealed.tx(), "v1.sealed");
        sealed.stored = "{…}".into();
        assert_eq!(sealed.tx(), "id1");
    }

    #[test]
    fn a_stage_survives_storage() {
        let stage =
            factor(FactorStep::Enroll { page: EnrollPage::Email { factor_id: "f".into() }, confirm_by_email: true });
        let stored = serde_json::to_string(&pending(stage.clone())).unwrap();
        let read: Pending = serde_json::from_str(&stored).unwrap();
        assert_eq!(read.stage, stage);
        assert!(read.stored.is_empty(), "what it was read from is set by the reader");
    }
}
