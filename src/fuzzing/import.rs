//! The import file (`sesame import`).

use super::harness::harness;

/// `sesame import FILE.toml`, parsed and applied to the harness's database: never a
/// panic; every position it reports is inside the text; and, as the README promises, a
/// file that was imported once changes nothing the second time.
pub fn import_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(file) = crate::import::parse("fuzz.toml", text) else { return };
    let spans = file
        .applications
        .iter()
        .map(|a| a.code.span())
        .chain(file.clients.iter().map(|c| c.client_id.span()))
        .chain(file.accounts.iter().map(|a| a.username.span()));
    for span in spans {
        assert!(span.start <= text.len() && text.is_char_boundary(span.start), "span {span:?} outside the text");
    }
    let h = harness();
    let first = h.block_on(crate::import::import_text(&h.state, "fuzz.toml", text));
    if first.is_ok() {
        let second = h.block_on(crate::import::import_text(&h.state, "fuzz.toml", text));
        assert!(second.is_ok(), "an imported file refused the second time: {:?}", second.err());
        let report = second.unwrap_or_default();
        assert!(!report.changed(), "a second import of the same file changed something:\n{report}");
    }
}
