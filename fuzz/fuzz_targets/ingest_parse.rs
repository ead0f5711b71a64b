//! Arbitrary bytes parsed as a message; see `letterbox::fuzzing`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| letterbox::fuzzing::ingest_parse(data));
