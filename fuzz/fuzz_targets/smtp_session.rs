//! Arbitrary bytes into the SMTP state machine; see `letterbox::fuzzing`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| letterbox::fuzzing::smtp_session(data));
