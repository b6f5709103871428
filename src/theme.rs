//! Themes: a folder of templates, translations and static assets under the configured
//! themes directory; whatever a theme folder lacks comes from the built-in default theme
//! compiled into the binary.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::{
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use minijinja::{Environment, value::Serde};
use rust_embed::RustEmbed;
use serde_json::Value;

use super::i18n::Locale;
use crate::config::ThemeConfig;

/// Every template a theme provides (checked at start, so a broken theme stops Sésame
/// with the template's name rather than failing on a user's page).
const TEMPLATES: [&str; 23] = [
    "login.html",
    "totp_scan.html",
    "authenticator.html",
    "account_security.html",
    "enroll.html",
    "verify.html",
    "factor_notice.html",
    "consent.html",
    "error.html",
    "form_post.html",
    "home.html",
    "logout.html",
    "logged_out.html",
    "device_code.html",
    "device_confirm.html",
    "device_done.html",
    "admin_accounts.html",
    "admin_account.html",
    "admin_password.html",
    "admin_applications.html",
    "admin_application.html",
    "admin_events.html",
    "admin_base.html",
];

#[derive(RustEmbed)]
#[folder = "themes/default/"]
struct BuiltinTheme;

#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error("theme `{name}`: {message}")]
    Invalid { name: String, message: String },
}

pub struct Theme {
    env: Environment<'static>,
    folder: Option<PathBuf>,
    messages: HashMap<Locale, Value>,
    /// The same messages as template values, made once: converting hundreds of messages
    /// at every render cost more than the rest of a page.
    template_messages: HashMap<Locale, minijinja::Value>,
    /// The issuer's path (`Config::base_path`), before every link of the pages (`base`).
    base: String,
}

/// A file of the theme: from its folder if it has one, else from the built-in theme.
fn read_file(folder: Option<&PathBuf>, path: &str) -> Option<Vec<u8>> {
    if path.split('/').any(|part| part == ".." || part.is_empty()) {
        return None;
    }
    if let Some(folder) = folder
        && let Ok(bytes) = std::fs::read(folder.join(path))
    {
        return Some(bytes);
    }
    BuiltinTheme::get(path).map(|file| file.data.into_owned())
}

impl Theme {
    pub fn load(config: &ThemeConfig) -> Result<Self, ThemeError> {
        let folder = config.dir.join(&config.name);
        let folder = if folder.is_dir() {
            Some(folder)
        } else if config.name == "default" {
            None
        } else {
            return Err(ThemeError::Invalid {
                name: config.name.clone(),
                message: format!("folder {} does not exist", folder.display()),
            });
        };
        let mut env = Environment::new();
        let loader_folder = folder.clone();
        env.set_loader(move |name| {
            Ok(read_file(loader_folder.as_ref(), &format!("templates/{name}")).and_then(|b| String::from_utf8(b).ok()))
        });
        let mut messages = HashMap::new();
        for locale in Locale::ALL {
            let path = format!("i18n/{}.toml", locale.code());
            let text = read_file(folder.as_ref(), &path).and_then(|b| String::from_utf8(b).ok()).ok_or_else(|| {
                ThemeError::Invalid { name: config.name.clone(), message: format!("{path} is missing") }
            })?;
            let table: toml::Table = toml::from_str(&text)
                .map_err(|e| ThemeError::Invalid { name: config.name.clone(), message: format!("{path}: {e}") })?;
            let json = serde_json::to_value(table)
                .map_err(|e| ThemeError::Invalid { name: config.name.clone(), message: format!("{path}: {e}") })?;
            messages.insert(locale, json);
        }
        let template_messages =
            messages.iter().map(|(locale, json)| (*locale, minijinja::Value::from(Serde(json)))).collect();
        let theme = Self { env, folder, messages, template_messages, base: String::new() };
        for template in TEMPLATES {
            theme.env.get_template(template).map_err(|e| ThemeError::Invalid {
                name: config.name.clone(),
                message: format!("template {template}: {e}"),
            })?;
        }
        Ok(theme)
    }

    /// Pages, scripts and the service worker with Sésame under `base` (the issuer's path).
    pub fn with_base(mut self, base: String) -> Self {
        self.base = base;
        self
    }

    /// One message in `locale`, for texts built outside templates.
    pub fn message(&self, locale: Locale, key: &str) -> String {
        self.messages.get(&locale).and_then(|m| m.get(key)).and_then(Value::as_str).unwrap_or(key).to_string()
    }

    /// Renders `template` with `context`, plus `t` (the messages), `lang` and `base`.
    pub fn render(&self, template: &str, locale: Locale, context: Value) -> Result<String, minijinja::Error> {
        let messages = self.template_messages.get(&locale).cloned().unwrap_or_default();
        let context = minijinja::context! {
            t => messages,
            lang => locale.code(),
            base => self.base.as_str(),
            ..minijinja::Value::from(Serde(&context))
        };
        self.env.get_template(template)?.render(context)
    }
}

pub async fn static_asset(State(theme): State<Arc<Theme>>, Path(path): Path<String>) -> Response {
    let Some(bytes) = read_file(theme.folder.as_ref(), &format!("static/{path}")) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let content_type = match path.rsplit('.').next() {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("webmanifest") => "application/manifest+json",
        _ => "application/octet-stream",
    };
    if path == SERVICE_WORKER {
        return service_worker(bytes, &theme.base);
    }
    // The manifest names the authenticator's page and icons by absolute paths: under
    // Sésame's path when it is mounted under one.
    let bytes = if path == MANIFEST && !theme.base.is_empty() {
        String::from_utf8_lossy(&bytes)
            .replace("\"/authenticator\"", &format!("\"{}/authenticator\"", theme.base))
            .replace("\"/static/", &format!("\"{}/static/", theme.base))
            .into_bytes()
    } else {
        bytes
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
        ],
        bytes,
    )
        .into_response()
}

/// The web authenticator's service worker (it shows Web Push notifications).
const SERVICE_WORKER: &str = "authenticator-sw.js";
/// The web authenticator's manifest (installable as an app).
const MANIFEST: &str = "authenticator.webmanifest";

/// A service worker may control pages only under its own folder (`/static/`) unless
/// the server allows more: `Service-Worker-Allowed` lets it control `/authenticator`.
/// Browsers check it for updates on each visit anyway; `no-cache` makes a new version
/// of the theme's worker apply at once.
fn service_worker(bytes: Vec<u8>, base: &str) -> Response {
    let allowed = HeaderValue::from_str(&format!("{base}/authenticator"))
        .unwrap_or_else(|_| HeaderValue::from_static("/authenticator"));
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::HeaderName::from_static("service-worker-allowed"), allowed),
        ],
        bytes,
    )
        .into_response()
}
