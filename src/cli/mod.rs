//! Commands that talk to a running Letterbox instead of serving: `wait`
//! for shell-based CI, `healthcheck` for container health checks and
//! `sendmail` for programs that hand mail to a sendmail binary.

pub mod healthcheck;
pub mod sendmail;
pub mod wait;
