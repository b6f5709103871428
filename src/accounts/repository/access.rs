//! The account's access rows: read, checked against each application's catalogue,
//! written, and asked whether an application is open to the account.

use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, JoinType, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait, Query},
};

use crate::accounts::{Access, AccessInput};
use crate::applications::Application;
use crate::domain::{DomainError, from_json_text, to_json_text};
use crate::storage::entities::{account_access, application};

/// One access row with its application's code (one query, joined).
#[derive(FromQueryResult)]
struct AccessRow {
    application_id: String,
    application_code: String,
    allowed: bool,
    initials: String,
    rights: String,
    options: String,
}

/// The account's access to every application it has a record for, in one query.
pub async fn access_of(db: &impl ConnectionTrait, account_id: &str) -> Result<Vec<Access>, DomainError> {
    let to_application = account_access::Entity::belongs_to(application::Entity)
        .from(account_access::Column::ApplicationId)
        .to(application::Column::Id)
        .into();
    let rows = account_access::Entity::find()
        .select_only()
        .columns([
            account_access::Column::ApplicationId,
            account_access::Column::Allowed,
            account_access::Column::Initials,
            account_access::Column::Rights,
            account_access::Column::Options,
        ])
        .column_as(application::Column::Code, "application_code")
        .join(JoinType::InnerJoin, to_application)
        .filter(account_access::Column::AccountId.eq(account_id))
        .order_by_asc(account_access::Column::ApplicationId)
        .into_model::<AccessRow>()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| Access {
            application_code: row.application_code,
            application_id: row.application_id,
            allowed: row.allowed,
            initials: row.initials,
            rights: from_json_text(&row.rights),
            options: from_json_text(&row.options),
        })
        .collect())
}

/// Checks every right and option against the application's catalogue: every refusal of
/// every application is noted in `refused` (then `None`), so that a form shows all its
/// mistakes at once; the database out of reach is an error.
pub(super) async fn prepare_access(
    db: &impl ConnectionTrait,
    list: &[AccessInput],
    refused: &mut Vec<DomainError>,
) -> Result<Option<Vec<(Application, AccessInput)>>, DomainError> {
    let before = refused.len();
    let mut prepared = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for access in list {
        let field = format!("access.{}", access.application);
        // Twice the same application would break the table's key when written.
        if !seen.insert(access.application.as_str()) {
            refused.push(
                DomainError::invalid(&field, format!("{} is listed twice", access.application))
                    .because("application_twice"),
            );
            continue;
        }
        let row = application::Entity::find().filter(application::Column::Code.eq(&access.application)).one(db).await?;
        let Some(row) = row else {
            refused.push(
                DomainError::invalid(&field, format!("no application has the code `{}`", access.application))
                    .because("application_unknown"),
            );
            continue;
        };
        let application = Application::from(row);
        let unknown_rights = access.rights.iter().filter(|right| !application.rights.iter().any(|r| &r.code == *right));
        for right in unknown_rights {
            refused.push(
                DomainError::invalid(
                    format!("{field}.rights"),
                    format!("`{right}` is not a right of {}", application.code),
                )
                .because("right_unknown"),
            );
        }
        let mut access = access.clone();
        for (key, value) in &access.options {
            match application.options.iter().find(|o| &o.key == key) {
                None => refused.push(
                    DomainError::invalid(
                        format!("{field}.options"),
                        format!("`{key}` is not an option of {}", application.code),
                    )
                    .because("option_unknown"),
                ),
                Some(definition) if !definition.accepts(value) => refused.push(
                    DomainError::invalid(
                        format!("{field}.options.{key}"),
                        format!("expects a value of type {:?}", definition.kind).to_lowercase(),
                    )
                    .because("option_type"),
                ),
                Some(_) => {}
            }
        }
        for definition in &application.options {
            access.options.entry(definition.key.clone()).or_insert_with(|| definition.default.clone());
        }
        access.rights.sort();
        access.rights.dedup();
        prepared.push((application, access));
    }
    Ok((refused.len() == before).then_some(prepared))
}

/// Replaces the account's access; returns whether anything differed.
pub(super) async fn write_access(
    db: &impl ConnectionTrait,
    account_id: &str,
    wanted: Vec<(Application, AccessInput)>,
) -> Result<bool, DomainError> {
    let current = access_of(db, account_id).await?;
    let same = current.len() == wanted.len()
        && wanted.iter().all(|(app, input)| {
            current.iter().any(|c| {
                c.application_id == app.id
                    && c.allowed == input.allowed
                    && c.initials == input.initials
                    && c.rights == input.rights
                    && c.options == input.options
            })
        });
    if same {
        return Ok(false);
    }
    account_access::Entity::delete_many().filter(account_access::Column::AccountId.eq(account_id)).exec(db).await?;
    for (application, input) in wanted {
        account_access::ActiveModel {
            account_id: Set(account_id.to_string()),
            application_id: Set(application.id),
            allowed: Set(input.allowed),
            initials: Set(input.initials),
            rights: Set(to_json_text(&input.rights)),
            options: Set(to_json_text(&input.options)),
        }
        .insert(db)
        .await?;
    }
    Ok(true)
}

/// An application's row, with whether the account may open it (a sub-select).
#[derive(FromQueryResult)]
struct ApplicationRow {
    #[sea_orm(nested)]
    application: application::Model,
    allowed: bool,
}

/// The application `application_id`, and whether the account may open it: it has an
/// access row for it that allows it. One query, since every login asks both. (A client
/// of no application is open to every active account: its caller does not ask.)
pub async fn application_open_to(
    db: &impl ConnectionTrait,
    application_id: &str,
    account_id: &str,
) -> Result<Option<(Application, bool)>, DomainError> {
    let allowed = Query::select()
        .expr(Expr::value(1))
        .from(account_access::Entity)
        .and_where(Expr::col((account_access::Entity, account_access::Column::AccountId)).eq(account_id))
        .and_where(
            Expr::col((account_access::Entity, account_access::Column::ApplicationId))
                .equals((application::Entity, application::Column::Id)),
        )
        .and_where(Expr::col((account_access::Entity, account_access::Column::Allowed)).eq(true))
        .to_owned();
    let row = application::Entity::find_by_id(application_id.to_string())
        .column_as(Expr::exists(allowed), "allowed")
        .into_model::<ApplicationRow>()
        .one(db)
        .await?;
    Ok(row.map(|row| (Application::from(row.application), row.allowed)))
}
