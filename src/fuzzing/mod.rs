//! Entry points of the cargo-fuzz targets in `fuzz/` (see fuzz/README.md): each runs one
//! parser of untrusted input the way the server runs it, then asserts what must hold
//! whatever the bytes. A panic, a failed assertion, an out-of-memory or a hang is a
//! finding. Nothing in the server calls this module.
//!
//! The targets that need the server (the authorization and token endpoints, the import,
//! ID token hints, cookies) share one [`Harness`]: the server's state on a throw-away
//! SQLite database with the test office imported, fixed signing keys, a fixed master key
//! and a fixed clock, so that a corpus made today replays the same tomorrow.
//!
//! One module per group of targets: `params` (the authorization and form endpoints,
//! client credentials), `tokens` (signed tokens), `fields` (fields people type), `import`
//! (the import file), `cookies` (cookies and sealed values); `seeds` makes their corpora.

mod cookies;
mod fields;
mod harness;
mod import;
mod params;
mod seeds;
mod tokens;

pub use cookies::cookies;
pub use fields::{is_e164, phone};
pub use harness::{Harness, ISSUER, NOW, fixed_key, harness};
pub use import::import_file;
pub use params::{authorize_params, basic_auth, basic_header, token_params};
pub use seeds::{seeds, write_seeds};
pub use tokens::jws;
