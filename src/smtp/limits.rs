//! Limits that keep hostile or broken senders from taking the server's
//! memory or every connection slot: a global budget for message content
//! held in memory, connections per client address, and a minimum rate at
//! which message content must arrive.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Bytes of message content all sessions together may hold in memory
/// before it is stored. Past it, new transactions get `452 4.3.1` and a
/// message that would cross it is refused with the same reply once its
/// data ends (so a client retries it; nothing accepted is lost).
#[derive(Debug, Clone)]
pub struct DataBudget {
    used: Arc<AtomicUsize>,
    limit: usize,
}

impl Default for DataBudget {
    fn default() -> Self {
        DataBudget::new(usize::MAX)
    }
}

impl DataBudget {
    pub fn new(limit: usize) -> Self {
        DataBudget::counting_in(limit, Arc::default())
    }

    /// A budget that keeps its count in `used` (read by the metrics).
    pub fn counting_in(limit: usize, used: Arc<AtomicUsize>) -> Self {
        DataBudget { used, limit }
    }

    /// Bytes held right now.
    pub fn in_use(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    pub fn is_exhausted(&self) -> bool {
        self.in_use() >= self.limit
    }

    /// An empty hold, to grow as content arrives.
    pub fn hold(&self) -> Held {
        Held {
            budget: self.clone(),
            bytes: 0,
        }
    }
}

/// Bytes of one message counted against the budget until dropped.
#[derive(Debug)]
pub struct Held {
    budget: DataBudget,
    bytes: usize,
}

impl Held {
    /// Counts `more` bytes; false (and nothing counted) when that would go
    /// past the budget.
    pub fn grow(&mut self, more: usize) -> bool {
        let used = &self.budget.used;
        let limit = self.budget.limit;
        let grown = used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
            now.checked_add(more).filter(|&total| total <= limit)
        });
        if grown.is_ok() {
            self.bytes += more;
        }
        grown.is_ok()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// Open connections per client address.
#[derive(Debug)]
pub struct ClientSlots {
    open: Mutex<HashMap<IpAddr, usize>>,
    limit: usize,
}

impl ClientSlots {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(ClientSlots {
            open: Mutex::default(),
            limit,
        })
    }

    /// A slot for a connection from `ip`, or `None` when it has `limit`
    /// open already.
    pub fn take(self: &Arc<Self>, ip: IpAddr) -> Option<ClientSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(ip).or_default();
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            slots: self.clone(),
            ip,
        })
    }
}

/// One connection's slot, given back when dropped.
#[derive(Debug)]
pub struct ClientSlot {
    slots: Arc<ClientSlots>,
    ip: IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// The least rate at which message content (DATA, or BDAT chunks with
/// the commands between them) must arrive, after a grace period: a
/// client trickling a byte every few seconds cannot hold a connection.
#[derive(Debug, Clone, Copy)]
pub struct MinDataRate {
    pub bytes_per_second: u64,
    /// Time allowed on top of what the bytes earn (the idle timeout).
    pub grace: Duration,
}

impl MinDataRate {
    /// How long a transfer that has received `bytes` may have taken so far.
    pub fn allowed(&self, bytes: usize) -> Duration {
        let earned = bytes as f64 / self.bytes_per_second.max(1) as f64;
        self.grace
            .saturating_add(Duration::try_from_secs_f64(earned).unwrap_or(Duration::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_shared_and_given_back() {
        let budget = DataBudget::new(100);
        let mut a = budget.hold();
        let mut b = budget.hold();
        assert!(a.grow(60));
        assert!(!b.grow(41), "past the budget");
        assert!(b.grow(40));
        assert!(budget.is_exhausted());
        drop(a);
        assert_eq!(budget.in_use(), 40);
        assert!(!budget.is_exhausted());
    }

    #[test]
    fn slots_per_address() {
        let slots = ClientSlots::new(2);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let first = slots.take(ip).unwrap();
        let _second = slots.take(ip).unwrap();
        assert!(slots.take(ip).is_none());
        assert!(slots.take(other).is_some());
        drop(first);
        assert!(slots.take(ip).is_some());
    }

    #[test]
    fn bytes_earn_time() {
        let rate = MinDataRate {
            bytes_per_second: 1000,
            grace: Duration::from_secs(10),
        };
        assert_eq!(rate.allowed(0), Duration::from_secs(10));
        assert_eq!(rate.allowed(5000), Duration::from_secs(15));
    }
}
