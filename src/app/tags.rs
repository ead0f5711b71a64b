//! Tags: set on messages, renamed, removed, counted.

use crate::store::StoreError;

use super::App;

impl App {
    /// Every tag in use, sorted.
    pub async fn tags(&self) -> Result<Vec<String>, StoreError> {
        self.store().tags().await
    }

    /// Each tag in use with how many messages carry it.
    pub async fn tag_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.store().tag_counts().await
    }

    /// Replaces the tags of these messages; returns how many exist.
    pub async fn set_tags(&self, ids: Vec<String>, tags: Vec<String>) -> Result<u64, StoreError> {
        self.store().set_tags(ids, tags).await
    }

    /// Renames a tag (merging into `to` if that exists); false if no
    /// message carries it.
    pub async fn rename_tag(&self, from: String, to: String) -> Result<bool, StoreError> {
        Ok(self.store().rename_tag(from, to).await? > 0)
    }

    /// Removes a tag from every message; false if no message carried it.
    pub async fn delete_tag(&self, name: String) -> Result<bool, StoreError> {
        Ok(self.store().delete_tag(name).await? > 0)
    }
}
