//! Where a page lies among a query's matches, for both backends.
//!
//! The API pages by offset, newest first, and a database steps over every
//! skipped entry. Knowing the exact number of matches (counted in the same
//! snapshot), a page past the middle is read oldest first from the other
//! end, where fewer are skipped.

/// How to read one page of matches.
#[derive(Debug, PartialEq, Eq)]
pub struct PageWindow {
    /// `"DESC"` (from the newest) or `"ASC"` (from the oldest): the SQL
    /// order of the rowids to read.
    pub order: &'static str,
    /// Matches to skip in that order.
    pub skip: u64,
    /// Matches to read: 0 past the end.
    pub take: u64,
}

impl PageWindow {
    /// The page of `limit` matches from `start` (newest first) among
    /// `matched` ones, read from whichever end skips fewer.
    pub fn nearer_end(matched: u64, start: u64, limit: u64) -> PageWindow {
        let end = start.saturating_add(limit).min(matched);
        let take = end.saturating_sub(start);
        let from_oldest = matched - end;
        if from_oldest < start {
            PageWindow {
                order: "ASC",
                skip: from_oldest,
                take,
            }
        } else {
            PageWindow::newest_first(start, take)
        }
    }

    /// The page read newest first, as the API numbers it.
    pub fn newest_first(start: u64, limit: u64) -> PageWindow {
        PageWindow {
            order: "DESC",
            skip: start,
            take: limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PageWindow;

    fn window(matched: u64, start: u64, limit: u64) -> (&'static str, u64, u64) {
        let w = PageWindow::nearer_end(matched, start, limit);
        (w.order, w.skip, w.take)
    }

    #[test]
    fn a_page_is_read_from_the_end_that_skips_fewer() {
        assert_eq!(window(100, 0, 10), ("DESC", 0, 10));
        assert_eq!(window(100, 45, 10), ("DESC", 45, 10));
        // Past the middle: matches 80..90 newest first are 10..20 oldest first.
        assert_eq!(window(100, 80, 10), ("ASC", 10, 10));
        // The last, short page.
        assert_eq!(window(100, 95, 10), ("ASC", 0, 5));
    }

    #[test]
    fn past_the_end_nothing_is_read() {
        assert_eq!(window(100, 100, 10).2, 0);
        assert_eq!(window(100, 500, 10).2, 0);
        assert_eq!(window(0, 0, 10).2, 0);
        assert_eq!(window(100, u64::MAX, u64::MAX).2, 0);
    }
}
