//! Commands that talk to a running Letterbox instead of serving.

pub mod wait;
