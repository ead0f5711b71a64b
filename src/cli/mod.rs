//! Commands that talk to a running Letterbox instead of serving: `wait`
//! for shell-based CI, `healthcheck` for container health checks and
//! `sendmail` for programs that hand mail to a sendmail binary; and the
//! ones that move mail in bulk: `ingest` (files in), `dump` (files out)
//! and `migrate` (one store into another).

pub mod dump;
pub mod healthcheck;
pub mod ingest;
pub mod migrate;
pub mod progress;
pub mod sendmail;
pub mod wait;
