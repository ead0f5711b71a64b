//! Deleting messages: the one place the deleted-messages counter is kept.

use crate::store::{Selection, StoreError};

use super::App;

impl App {
    /// Deletes the selected messages; returns how many were deleted.
    pub async fn delete(&self, selection: Selection) -> Result<u64, StoreError> {
        let deleted = self.store().delete(selection).await?;
        self.inner.stats.messages_deleted(deleted);
        Ok(deleted)
    }

    /// Deletes one message; false if there was no such message.
    pub async fn delete_one(&self, id: String) -> Result<bool, StoreError> {
        Ok(self.delete(Selection::Ids(vec![id])).await? > 0)
    }
}
