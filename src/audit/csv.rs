//! The security events as CSV (RFC 4180: comma-separated, CRLF line ends, a field with
//! a comma, a double quote or a line break between double quotes, its quotes doubled),
//! safe to open in a spreadsheet: a cell that starts with `=`, `+`, `-`, `@`, a tab or
//! a carriage return is prefixed with `'`, so that it is never taken for a formula (an
//! account named `=HYPERLINK(…)` stays text).

use super::listing::Entry;

/// The header row: stable names for programs; the description is in the reader's
/// language.
pub const COLUMNS: [&str; 11] =
    ["time_utc", "event", "kind", "description", "account", "account_name", "actor", "ip", "client", "detail", "id"];

/// The file: a UTF-8 byte-order mark (spreadsheets otherwise misread accented names),
/// the header row, one row per entry.
pub fn document(entries: &[Entry]) -> String {
    let mut out = String::from("\u{feff}");
    row(&mut out, COLUMNS.iter().copied());
    for e in entries {
        let id = e.id.to_string();
        let fields = [
            e.datetime.as_str(),
            e.event.as_str(),
            e.kind.unwrap_or_default(),
            e.text.as_str(),
            e.account.as_deref().unwrap_or_default(),
            e.account_name.as_deref().unwrap_or_default(),
            e.actor.as_deref().unwrap_or_default(),
            e.ip.as_deref().unwrap_or_default(),
            e.client_id.as_deref().unwrap_or_default(),
            e.detail.as_str(),
            id.as_str(),
        ];
        row(&mut out, fields.into_iter());
    }
    out
}

fn row<'a>(out: &mut String, fields: impl Iterator<Item = &'a str>) {
    for (i, field) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&cell(field));
    }
    out.push_str("\r\n");
}

/// One field, defused then quoted when it must be.
pub fn cell(value: &str) -> String {
    let defused = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.into() };
    if defused.contains([',', '"', '\r', '\n']) { format!("\"{}\"", defused.replace('"', "\"\"")) } else { defused }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_as_rfc_4180_says() {
        assert_eq!(cell("plain words"), "plain words");
        assert_eq!(cell(""), "");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(cell("{\"reason\":\"x\"}"), "\"{\"\"reason\"\":\"\"x\"\"}\"");
        assert_eq!(cell("Émilie Durand"), "Émilie Durand");
    }

    #[test]
    fn formulas_are_defused() {
        assert_eq!(cell("=1+1"), "'=1+1");
        assert_eq!(cell("+33 6"), "'+33 6");
        assert_eq!(cell("-2"), "'-2");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("\tx"), "'\tx");
        assert_eq!(cell("\rx"), "\"'\rx\"", "defused, then quoted for its line break");
        assert_eq!(cell("=HYPERLINK(\"http://x\",\"y\")"), "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"");
        assert_eq!(cell("a=b"), "a=b", "only at the start");
    }

    #[test]
    fn the_document_has_a_header_and_crlf_rows() {
        let entry = Entry {
            id: 7,
            at: 0,
            datetime: "1970-01-01T00:00:00Z".into(),
            utc: String::new(),
            event: "login.success".into(),
            kind: Some("sign_in"),
            text: "Connexion de =Marie, Dupont".into(),
            account_id: Some("id-1".into()),
            account: Some("marie".into()),
            account_name: Some("=Marie Dupont".into()),
            actor: None,
            client_id: Some("actes-web".into()),
            ip: Some("192.0.2.1".into()),
            detail: String::new(),
        };
        let text = document(&[entry]);
        let mut lines = text.split("\r\n");
        assert_eq!(
            lines.next(),
            Some("\u{feff}time_utc,event,kind,description,account,account_name,actor,ip,client,detail,id")
        );
        assert_eq!(
            lines.next(),
            Some(
                "1970-01-01T00:00:00Z,login.success,sign_in,\"Connexion de =Marie, Dupont\",marie,'=Marie Dupont,,192.0.2.1,actes-web,,7"
            )
        );
        assert_eq!(lines.next(), Some(""));
        assert_eq!(lines.next(), None);
    }
}
