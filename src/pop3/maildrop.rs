//! A login's maildrop: the messages it sees, numbered from 1 (oldest)
//! when it logs in and fixed for the session (RFC 1939 §4), with the
//! marks `DELE` sets and `RSET` clears. Nothing is deleted here: the
//! session hands [`Maildrop::marked`] to the app when the client quits.

/// One message of the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Letterbox's ID, also the message's unique-id for UIDL: a ULID, 26
    /// characters in the range RFC 1939 allows.
    pub id: String,
    /// Octets, as stored.
    pub size: u64,
    deleted: bool,
}

/// Why a message number names no message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaildropError {
    #[error("no message {number} (there are {count})")]
    NoSuchMessage { number: u64, count: usize },
    #[error("message {0} is already deleted")]
    Deleted(u64),
}

#[derive(Debug, Clone, Default)]
pub struct Maildrop {
    entries: Vec<Entry>,
}

impl Maildrop {
    /// From `(id, size)` pairs, oldest first: the first is message 1.
    pub fn new(messages: impl IntoIterator<Item = (String, u64)>) -> Maildrop {
        let entries = messages
            .into_iter()
            .map(|(id, size)| Entry {
                id,
                size,
                deleted: false,
            })
            .collect();
        Maildrop { entries }
    }

    /// Messages not marked deleted, and their octets together (STAT).
    pub fn stat(&self) -> (usize, u64) {
        self.listing().fold((0, 0), |(count, octets), (_, e)| {
            (count + 1, octets + e.size)
        })
    }

    /// The message numbered `number`, unless it is marked deleted.
    pub fn get(&self, number: u64) -> Result<&Entry, MaildropError> {
        let entry = usize::try_from(number)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|index| self.entries.get(index))
            .ok_or(MaildropError::NoSuchMessage {
                number,
                count: self.entries.len(),
            })?;
        if entry.deleted {
            return Err(MaildropError::Deleted(number));
        }
        Ok(entry)
    }

    /// Every message not marked deleted, with its number.
    pub fn listing(&self) -> impl Iterator<Item = (u64, &Entry)> {
        (1u64..)
            .zip(&self.entries)
            .filter(|(_, entry)| !entry.deleted)
    }

    /// Marks a message deleted (DELE).
    pub fn mark(&mut self, number: u64) -> Result<(), MaildropError> {
        self.get(number)?;
        self.entries[(number - 1) as usize].deleted = true;
        Ok(())
    }

    /// Clears every mark (RSET).
    pub fn reset(&mut self) {
        self.entries.iter_mut().for_each(|e| e.deleted = false);
    }

    /// The IDs of the marked messages, to delete on QUIT.
    pub fn marked(&self) -> Vec<String> {
        let marked = self.entries.iter().filter(|e| e.deleted);
        marked.map(|e| e.id.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Maildrop {
        Maildrop::new([("a".into(), 10), ("b".into(), 20), ("c".into(), 30)])
    }

    #[test]
    fn numbers_start_at_one_and_stay_put() {
        let mut drop = three();
        assert_eq!(drop.stat(), (3, 60));
        assert_eq!(drop.get(1).unwrap().id, "a");
        drop.mark(2).unwrap();
        assert_eq!(drop.get(3).unwrap().id, "c");
        assert_eq!(drop.stat(), (2, 40));
        let numbers: Vec<u64> = drop.listing().map(|(n, _)| n).collect();
        assert_eq!(numbers, [1, 3]);
    }

    #[test]
    fn marks_are_checked_and_reset() {
        let mut drop = three();
        drop.mark(3).unwrap();
        assert_eq!(drop.mark(3), Err(MaildropError::Deleted(3)));
        assert_eq!(drop.get(3), Err(MaildropError::Deleted(3)));
        assert_eq!(drop.marked(), ["c"]);
        drop.reset();
        assert!(drop.marked().is_empty());
        assert_eq!(drop.stat(), (3, 60));
    }

    #[test]
    fn numbers_outside_the_maildrop() {
        let drop = three();
        for number in [0, 4, u64::MAX] {
            assert_eq!(
                drop.get(number),
                Err(MaildropError::NoSuchMessage { number, count: 3 })
            );
        }
        assert_eq!(
            MaildropError::NoSuchMessage {
                number: 4,
                count: 3
            }
            .to_string(),
            "no message 4 (there are 3)"
        );
    }
}
