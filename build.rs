//! Compresses the OpenAPI document into the build's output directory: the
//! 90 KB of JSON are 12 KB as zstd, and the container image's binary has
//! a 12 MB budget. `web::api::docs` decompresses it once, when first asked.

use std::path::PathBuf;

fn main() {
    let source = "src/web/api/openapi.json";
    println!("cargo::rerun-if-changed={source}");
    let json = std::fs::read(source).unwrap_or_else(|e| panic!("{source}: {e}"));
    let compressed = zstd::bulk::compress(&json, 19).expect("zstd compresses the document");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("openapi.json.zst"), compressed).expect("writing to OUT_DIR");
}
