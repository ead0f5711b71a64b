//! Which messages a store keeps: at most so many, none older than so much.
//! The rule is the same for every backend; each applies it to its own
//! oldest messages.

use std::time::Duration;

/// What a store keeps: at most `max_messages` (0 = no limit) messages,
/// none received longer than `max_age` ago.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    pub max_messages: u64,
    pub max_age: Option<Duration>,
}

impl Retention {
    /// Whether a store holding `count` messages may have any to prune (with
    /// an age limit it may, whatever the count).
    pub fn may_prune(&self, count: u64) -> bool {
        self.excess(count) > 0 || self.max_age.is_some()
    }

    /// How many messages a store holding `count` has over the count limit.
    pub fn excess(&self, count: u64) -> u64 {
        if self.max_messages > 0 {
            count.saturating_sub(self.max_messages)
        } else {
            0
        }
    }

    /// Messages received before this Unix millisecond are too old at `now_ms`.
    pub fn cutoff_ms(&self, now_ms: i64) -> Option<i64> {
        self.max_age
            .map(|age| now_ms.saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX)))
    }

    /// Of a store holding `count` messages, how many of the oldest to prune
    /// at `now_ms`, given the oldest ones' arrival times (Unix milliseconds,
    /// oldest first): everything over the count, then whatever is still too
    /// old, stopping at the first message young enough to keep.
    pub fn prune_count(
        &self,
        count: u64,
        now_ms: i64,
        oldest_first: impl IntoIterator<Item = i64>,
    ) -> usize {
        let excess = self.excess(count);
        let cutoff = self.cutoff_ms(now_ms);
        oldest_first
            .into_iter()
            .enumerate()
            .take_while(|&(n, received_at)| {
                (n as u64) < excess || cutoff.is_some_and(|cutoff| received_at < cutoff)
            })
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_limits_prune_nothing() {
        let keep_all = Retention::default();
        assert!(!keep_all.may_prune(1_000_000));
        assert_eq!(keep_all.prune_count(10, 0, [1, 2, 3]), 0);
    }

    #[test]
    fn the_oldest_over_the_count_go_first() {
        let three = Retention {
            max_messages: 3,
            max_age: None,
        };
        assert!(!three.may_prune(3));
        assert!(three.may_prune(5));
        assert_eq!(three.prune_count(5, 0, [1, 2, 3, 4, 5]), 2);
    }

    #[test]
    fn too_old_messages_go_up_to_the_first_young_one() {
        let minute = Retention {
            max_messages: 0,
            max_age: Some(Duration::from_secs(60)),
        };
        let now = 100_000;
        assert_eq!(minute.cutoff_ms(now), Some(40_000));
        // The third is young: it and everything after it stay, even an
        // older one behind it (arrival order decides).
        let times = [1_000, 39_999, 40_000, 2_000];
        assert_eq!(minute.prune_count(4, now, times), 2);
    }

    #[test]
    fn count_and_age_together() {
        let both = Retention {
            max_messages: 2,
            max_age: Some(Duration::from_secs(60)),
        };
        // Three over the count, and the fourth is too old as well.
        assert_eq!(
            both.prune_count(5, 100_000, [90_000, 90_000, 90_000, 1, 99_000]),
            4
        );
    }
}
