//! Compresses what the binary embeds as text into the build's output
//! directory: the OpenAPI document (90 KB of JSON, 12 KB as zstd) and the
//! UI's static files (103 KB, about 30 KB). The container image's binary
//! has a 12 MB budget. `web::api::docs` and `web::assets` decompress them.

use std::path::{Path, PathBuf};

fn compress(source: &Path, target: &Path) {
    let bytes = std::fs::read(source).unwrap_or_else(|e| panic!("{}: {e}", source.display()));
    let compressed = zstd::bulk::compress(&bytes, 19).expect("zstd compresses");
    std::fs::write(target, compressed).unwrap_or_else(|e| panic!("{}: {e}", target.display()));
}

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let openapi = Path::new("src/web/api/openapi.json");
    println!("cargo::rerun-if-changed={}", openapi.display());
    compress(openapi, &out.join("openapi.json.zst"));

    // Each file of static/ as NAME.zst in OUT_DIR/static (rust-embed's
    // folder); a file removed from static/ must not linger there.
    println!("cargo::rerun-if-changed=static");
    let embedded = out.join("static");
    let _ = std::fs::remove_dir_all(&embedded);
    std::fs::create_dir_all(&embedded).expect("creating OUT_DIR/static");
    for entry in std::fs::read_dir("static").expect("reading static/") {
        let path = entry.expect("reading static/").path();
        if path.is_file() {
            let name = path.file_name().expect("a file name").to_string_lossy();
            compress(&path, &embedded.join(format!("{name}.zst")));
        }
    }
}
