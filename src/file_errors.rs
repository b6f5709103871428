//! Files and folders that could not be read or written, said in words an operator can
//! act on (a leaf module: storage, crypto and import use it).

/// A file or folder that could not be read or written, in words, with what to do when it
/// is the usual case (said once: callers do not also chain the error as a source).
pub fn in_words(reason: &std::io::Error) -> String {
    match reason.kind() {
        std::io::ErrorKind::PermissionDenied => {
            format!("{reason}: the user that runs Sésame must own it (`chown -R sesame: …` on the data directory)")
        }
        std::io::ErrorKind::AlreadyExists => "it already exists: choose another name".into(),
        _ => reason.to_string(),
    }
}
