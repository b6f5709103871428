//! A development outbox: messages that would have left (mail, SMS) appended as JSON
//! lines to a file, where a developer reads the codes and tests find them.

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

pub struct Outbox {
    path: PathBuf,
    /// One writer at a time on this node, so that lines never interleave.
    lock: tokio::sync::Mutex<()>,
}

impl Outbox {
    /// `configured` if set, else `default_name` in the data directory.
    pub fn new(configured: &str, data_dir: &Path, default_name: &str) -> Self {
        let path = if configured.is_empty() { data_dir.join(default_name) } else { PathBuf::from(configured) };
        Self { path, lock: tokio::sync::Mutex::new(()) }
    }

    pub async fn append(&self, line: &serde_json::Value) -> std::io::Result<()> {
        let _guard = self.lock.lock().await;
        if let Some(parent) = self.path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let mut file = tokio::fs::OpenOptions::new().create(true).append(true).open(&self.path).await?;
        file.write_all(format!("{line}\n").as_bytes()).await?;
        file.flush().await
    }
}
