//! Applications of the office (INOTACTE, INOTCOMPTABILITE, …): their code, name and the
//! catalogue of rights and options that accounts are granted in them.

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::{Change, DomainError, from_json_text, to_json_text};
use crate::storage::{Db, entities::application};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Right {
    pub code: String,
    pub label: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptionType {
    String,
    Boolean,
    Integer,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionDef {
    pub key: String,
    #[serde(rename = "type")]
    pub kind: OptionType,
    pub label: String,
    #[serde(default)]
    pub default: Value,
}

impl OptionDef {
    /// Whether `value` has this option's type.
    pub fn accepts(&self, value: &Value) -> bool {
        match self.kind {
            OptionType::String => value.is_string(),
            OptionType::Boolean => value.is_boolean(),
            OptionType::Integer => value.is_i64(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Application {
    pub id: String,
    pub code: String,
    pub name: String,
    pub rights: Vec<Right>,
    pub options: Vec<OptionDef>,
}

/// What an operator declares for an application.
#[derive(Debug, Clone)]
pub struct ApplicationInput {
    pub code: String,
    pub name: String,
    pub rights: Vec<Right>,
    pub options: Vec<OptionDef>,
}

impl From<application::Model> for Application {
    fn from(row: application::Model) -> Self {
        Self {
            id: row.id,
            code: row.code,
            name: row.name,
            rights: from_json_text(&row.rights),
            options: from_json_text(&row.options),
        }
    }
}

impl ApplicationInput {
    pub fn validate(&mut self) -> Result<(), DomainError> {
        self.code = self.code.trim().to_string();
        if self.code.is_empty() || !self.code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(DomainError::invalid("code", "use letters, digits, '-' or '_' (for example INOTACTE)"));
        }
        if self.name.trim().is_empty() {
            return Err(DomainError::invalid("name", "an application needs a display name"));
        }
        let mut seen = std::collections::HashSet::new();
        for right in &self.rights {
            if right.code.trim().is_empty() || !seen.insert(right.code.as_str()) {
                return Err(DomainError::invalid(
                    "rights",
                    format!("right code `{}` is empty or repeated", right.code),
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for option in &mut self.options {
            if option.key.trim().is_empty() || !seen.insert(option.key.clone()) {
                return Err(DomainError::invalid(
                    "options",
                    format!("option key `{}` is empty or repeated", option.key),
                ));
            }
            if option.default.is_null() {
                option.default = match option.kind {
                    OptionType::String => Value::String(String::new()),
                    OptionType::Boolean => Value::Bool(false),
                    OptionType::Integer => Value::from(0),
                };
            } else if !option.accepts(&option.default) {
                return Err(DomainError::invalid(
                    "options",
                    format!("the default of option `{}` is not of its type", option.key),
                ));
            }
        }
        Ok(())
    }
}

pub async fn find_by_code(db: &impl ConnectionTrait, code: &str) -> Result<Option<Application>, DomainError> {
    Ok(application::Entity::find().filter(application::Column::Code.eq(code)).one(db).await?.map(Application::from))
}

pub async fn find_by_id(db: &impl ConnectionTrait, id: &str) -> Result<Option<Application>, DomainError> {
    Ok(application::Entity::find_by_id(id.to_string()).one(db).await?.map(Application::from))
}

pub async fn list(db: &Db) -> Result<Vec<Application>, DomainError> {
    Ok(application::Entity::find()
        .order_by_asc(application::Column::Code)
        .all(db)
        .await?
        .into_iter()
        .map(Application::from)
        .collect())
}

/// Creates or updates the application with this code.
pub async fn upsert(
    db: &impl ConnectionTrait,
    mut input: ApplicationInput,
    now: i64,
) -> Result<(Application, Change), DomainError> {
    input.validate()?;
    let existing = application::Entity::find().filter(application::Column::Code.eq(&input.code)).one(db).await?;
    match existing {
        None => {
            let row = application::ActiveModel {
                id: Set(uuid::Uuid::new_v4().to_string()),
                code: Set(input.code),
                name: Set(input.name),
                rights: Set(to_json_text(&input.rights)),
                options: Set(to_json_text(&input.options)),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(db)
            .await?;
            Ok((row.into(), Change::Created))
        }
        Some(row) => {
            let current = Application::from(row.clone());
            if current.name == input.name && current.rights == input.rights && current.options == input.options {
                return Ok((current, Change::Unchanged));
            }
            let mut active: application::ActiveModel = row.into();
            active.name = Set(input.name);
            active.rights = Set(to_json_text(&input.rights));
            active.options = Set(to_json_text(&input.options));
            active.updated_at = Set(now);
            let updated: Application = active.update(db).await?.into();
            crate::change_feed::announce(db, crate::change_feed::Topic::Application, &updated.id, 0).await?;
            Ok((updated, Change::Updated))
        }
    }
}
