//! Read flags.

use crate::store::{Selection, StoreError};

use super::App;

impl App {
    /// Marks the selected messages read or unread; returns how many changed.
    pub async fn mark_read(&self, selection: Selection, read: bool) -> Result<u64, StoreError> {
        self.store().set_read(selection, read).await
    }
}
