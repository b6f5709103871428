//! Reading and writing accounts and their access.

mod access;
mod email;
mod language;
mod locks;
mod queries;
mod upsert;

pub use access::{access_of, application_open_to};
pub use email::mark_email_verified;
pub use language::set_language;
pub use locks::{Locks, end_sessions_and_grants, lock, locks, unlock};
pub use queries::{Page, StateFilter, administrators_with_email, find_by_id, find_by_username, list, search};
pub use upsert::{check, upsert, upsert_reporting_all};
