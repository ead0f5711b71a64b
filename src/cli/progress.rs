//! A one-line progress display for the bulk commands (`ingest`, `dump`,
//! `migrate`): messages, bytes, rate and time left, redrawn in place on
//! stderr a few times a second, and only when stderr is a terminal (a log
//! file or CI output gets the summary alone).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often the line is redrawn.
const REDRAW: Duration = Duration::from_millis(200);

/// What is known of the whole job, for the time left.
#[derive(Debug, Clone, Copy)]
pub enum Total {
    Unknown,
    Bytes(u64),
    Messages(u64),
}

pub struct Progress {
    total: Total,
    messages: u64,
    bytes: u64,
    started: Instant,
    drawn: Option<Instant>,
    terminal: bool,
}

impl Progress {
    pub fn new(total: Total) -> Progress {
        Progress {
            total,
            messages: 0,
            bytes: 0,
            started: Instant::now(),
            drawn: None,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    /// Whether anything is drawn (stderr is a terminal).
    pub fn shown(&self) -> bool {
        self.terminal
    }

    pub fn messages(&self) -> u64 {
        self.messages
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Counts one message (`bytes` of input read for it).
    pub fn message(&mut self, bytes: u64) {
        self.messages += 1;
        self.bytes += bytes;
        self.tick();
    }

    /// Counts input read that was no message (a skipped file).
    pub fn skipped_bytes(&mut self, bytes: u64) {
        self.bytes += bytes;
        self.tick();
    }

    fn tick(&mut self) {
        if self.terminal && self.drawn.is_none_or(|at| at.elapsed() >= REDRAW) {
            self.drawn = Some(Instant::now());
            let line = self.line();
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{line}\x1b[K");
            let _ = err.flush();
        }
    }

    /// Clears the line, so that what is printed next starts clean.
    pub fn clear(&mut self) {
        if self.terminal && self.drawn.is_some() {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
            self.drawn = None;
        }
    }

    fn line(&self) -> String {
        let seconds = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = self.messages as f64 / seconds;
        let byte_rate = self.bytes as f64 / seconds;
        let mut line = format!(
            "{} messages, {} ({:.0} messages/s, {}/s)",
            self.messages,
            human_bytes(self.bytes),
            rate,
            human_bytes(byte_rate as u64)
        );
        let left = match self.total {
            Total::Bytes(total) if byte_rate > 0.0 && total >= self.bytes => {
                let done = self.bytes as f64 / total.max(1) as f64;
                line.push_str(&format!(", {:.0}%", done * 100.0));
                Some((total - self.bytes) as f64 / byte_rate)
            }
            Total::Messages(total) if rate > 0.0 && total >= self.messages => {
                line.push_str(&format!(" of {total}"));
                Some((total - self.messages) as f64 / rate)
            }
            _ => None,
        };
        if let Some(left) = left {
            line.push_str(&format!(", {} left", human_duration(left)));
        }
        line
    }
}

/// `1.5 MB`, `820 B`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `42s`, `3m05s`, `1h02m`.
fn human_duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1500), "1.5 KB");
        assert_eq!(human_bytes(2_500_000), "2.5 MB");
        assert_eq!(human_duration(42.4), "42s");
        assert_eq!(human_duration(185.0), "3m05s");
        assert_eq!(human_duration(3720.0), "1h02m");
    }
}
