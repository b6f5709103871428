//! The account form: its fields in and out. Field names: `username`, `password`,
//! `password_confirm`, `first_name`, `last_name`, `initials`, `email`, `phone`,
//! `address`, `language` (`fr`, `en`, or empty: the server's), `archived`,
//! `two_factor_required`, `sms_disabled`, `account_admin`, and per application
//! `access.CODE.allowed`, `access.CODE.initials`, `access.CODE.rights` (one per right
//! ticked) and `access.CODE.option.KEY`.

use std::collections::{BTreeMap, HashMap};

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use axum_extra::extract::CookieJar;
use serde_json::{Value, json};

use crate::state::AppState;
use crate::web::{csrf, page_error::PageError, request};

use crate::accounts::{AccessInput, Account, AccountInput, PasswordInput, display_phone};
use crate::applications::{Application, OptionType};

/// A submitted form: single values, and every value of repeated names.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Submitted {
    single: HashMap<String, String>,
    many: HashMap<String, Vec<String>>,
}

/// The submitted form, if its anti-CSRF token is this browser's; else the refusal page,
/// before the handler runs.
impl FromRequest<AppState> for Submitted {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(request.headers());
        let locale = request::locale(request.headers(), None);
        let body = Bytes::from_request(request, state).await.map_err(IntoResponse::into_response)?;
        let form = Self::parse(&body);
        if csrf::verify(state, &jar, form.get(csrf::FIELD)) {
            Ok(form)
        } else {
            Err(PageError::new(StatusCode::FORBIDDEN, "error_csrf_title", "error_csrf").render(state, locale))
        }
    }
}

impl Submitted {
    pub fn parse(body: &[u8]) -> Self {
        let mut single = HashMap::new();
        let mut many: HashMap<String, Vec<String>> = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(body) {
            many.entry(name.to_string()).or_default().push(value.to_string());
            single.insert(name.into_owned(), value.into_owned());
        }
        Self { single, many }
    }

    /// The form without its passwords (and anti-CSRF token): what may travel, sealed,
    /// to the page that shows it again after a refusal.
    pub fn without_secrets(&self) -> Self {
        let secret = |name: &str| matches!(name, "password" | "password_confirm") || name == csrf::FIELD;
        let single = self.single.iter().filter(|(n, _)| !secret(n)).map(|(n, v)| (n.clone(), v.clone())).collect();
        let many = self.many.iter().filter(|(n, _)| !secret(n)).map(|(n, v)| (n.clone(), v.clone())).collect();
        Self { single, many }
    }

    pub fn get(&self, name: &str) -> &str {
        self.single.get(name).map(String::as_str).unwrap_or_default()
    }

    /// Every submitted name with each of its values.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.many.iter().flat_map(|(name, values)| values.iter().map(move |value| (name.as_str(), value.as_str())))
    }

    fn checked(&self, name: &str) -> bool {
        matches!(self.get(name), "on" | "true" | "1")
    }

    fn optional(&self, name: &str) -> Option<String> {
        Some(self.get(name).trim().to_string()).filter(|v| !v.is_empty())
    }
}

/// What went wrong with a submitted field, to show next to it: `problem` names the
/// message (`console_problem_…`).
pub struct FieldProblem {
    pub field: String,
    pub problem: &'static str,
}

/// The account input a submitted form describes, and the fields that are wrong before
/// the domain is even asked (password confirmation, option types): all of them, so that
/// the page shows every mistake at once. A mistyped number leaves the option's default
/// in the input, which is then only checked, never written.
pub fn account_input(
    form: &Submitted,
    username: String,
    applications: &[Application],
) -> (AccountInput, Vec<FieldProblem>) {
    let mut problems = Vec::new();
    let password = form.optional("password");
    if password.is_some() && form.get("password") != form.get("password_confirm") {
        problems.push(FieldProblem { field: "password_confirm".into(), problem: "password_confirm" });
    }
    let mut access = Vec::new();
    for application in applications {
        let prefix = format!("access.{}", application.code);
        let allowed = form.checked(&format!("{prefix}.allowed"));
        let rights = form.many.get(&format!("{prefix}.rights")).cloned().unwrap_or_default();
        let initials = form.get(&format!("{prefix}.initials")).trim().to_string();
        let mut options = BTreeMap::new();
        for option in &application.options {
            let name = format!("{prefix}.option.{}", option.key);
            let value = match option.kind {
                OptionType::Boolean => json!(form.checked(&name)),
                OptionType::Integer => match form.get(&name).trim() {
                    "" => option.default.clone(),
                    text => match text.parse::<i64>() {
                        Ok(number) => json!(number),
                        Err(_) => {
                            problems.push(FieldProblem { field: name.clone(), problem: "integer" });
                            option.default.clone()
                        }
                    },
                },
                OptionType::String => json!(form.get(&name).trim()),
            };
            options.insert(option.key.clone(), value);
        }
        if allowed || !rights.is_empty() || !initials.is_empty() {
            access.push(AccessInput { application: application.code.clone(), allowed, initials, rights, options });
        }
    }
    let input = AccountInput {
        username,
        password: password.map(PasswordInput::Plain),
        first_name: form.get("first_name").trim().to_string(),
        last_name: form.get("last_name").trim().to_string(),
        initials: form.get("initials").trim().to_string(),
        email: form.optional("email"),
        phone: form.optional("phone"),
        address: form.optional("address"),
        archived: form.checked("archived"),
        two_factor_required: form.checked("two_factor_required"),
        sms_disabled: form.checked("sms_disabled"),
        account_admin: form.checked("account_admin"),
        access: Some(access),
        // The form shows the account's language, so an untouched form keeps it; the
        // empty choice is the server's language; a form without the field (an older
        // page) leaves it alone.
        language: form.single.contains_key("language").then(|| form.optional("language")),
    };
    (input, problems)
}

/// The form's values for the template: from a stored account, or as submitted.
pub fn values_of(account: &Account) -> Value {
    json!({
        "username": account.username,
        "first_name": account.first_name,
        "last_name": account.last_name,
        "initials": account.initials,
        "email": account.email,
        // Shown as people write it (`06 55 44 33 22`), read back in either form.
        "phone": account.phone.as_deref().map(display_phone),
        "address": account.address,
        "archived": account.archived,
        "two_factor_required": account.two_factor_required,
        "sms_disabled": account.sms_disabled,
        "account_admin": account.account_admin,
        "language": account.language.map(|l| l.code()),
    })
}

pub fn values_submitted(form: &Submitted) -> Value {
    let mut values = serde_json::Map::new();
    for name in ["username", "first_name", "last_name", "initials", "email", "phone", "address", "language"] {
        values.insert(name.into(), json!(form.get(name)));
    }
    for name in ["archived", "two_factor_required", "sms_disabled", "account_admin"] {
        values.insert(name.into(), json!(form.checked(name)));
    }
    Value::Object(values)
}

/// The software-access section: every application with its rights and options, and what
/// the account has there (stored, or as submitted after a refusal).
pub fn access_section(applications: &[Application], have: &[AccessInput]) -> Value {
    let sections: Vec<Value> = applications
        .iter()
        .map(|application| {
            let mine = have.iter().find(|a| a.application == application.code);
            let rights: Vec<Value> = application
                .rights
                .iter()
                .map(|right| {
                    let granted = mine.is_some_and(|m| m.rights.contains(&right.code));
                    json!({"code": right.code, "label": right.label, "granted": granted})
                })
                .collect();
            let options: Vec<Value> = application
                .options
                .iter()
                .map(|option| {
                    let value =
                        mine.and_then(|m| m.options.get(&option.key)).cloned().unwrap_or(option.default.clone());
                    let kind = match option.kind {
                        OptionType::String => "string",
                        OptionType::Boolean => "boolean",
                        OptionType::Integer => "integer",
                    };
                    json!({"key": option.key, "label": option.label, "type": kind, "value": value})
                })
                .collect();
            json!({
                "code": application.code,
                "name": application.name,
                "allowed": mine.is_some_and(|m| m.allowed),
                "initials": mine.map(|m| m.initials.clone()).unwrap_or_default(),
                "rights": rights,
                "options": options,
            })
        })
        .collect();
    json!(sections)
}
