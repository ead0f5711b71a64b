//! The layers of `src/`, enforced: a module may use only modules of a lower
//! layer, the domain uses no I/O crate, and every file stays small enough to
//! read in one sitting. README.md's "Layout" section describes the layers;
//! this is the table that holds the code to it.
//!
//! A test rather than a workspace of crates: one crate keeps `cargo build`,
//! `cargo test` and the release profile simple, and this check fails on the
//! same back-edge a crate boundary would (see README, "Layout").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Top-level modules by layer: each may use only modules of a lower layer.
const LAYERS: &[(u8, &[&str])] = &[
    (0, &["domain"]),
    (1, &["events", "net", "tls"]),
    (2, &["store"]),
    (3, &["app"]),
    (4, &["smtp", "client", "checks", "pop3"]),
    (5, &["relay", "webhook"]),
    (6, &["web"]),
    (7, &["server", "cli", "fuzzing"]),
    (8, &["config"]),
];

/// Crates and std modules that do I/O, which the domain layer must not use.
const IO_PATHS: &[&str] = &[
    "tokio",
    "tokio_util",
    "tokio_rustls",
    "rustls",
    "axum",
    "hyper",
    "hyper_util",
    "rusqlite",
    "tracing",
    "std::fs",
    "std::net::TcpStream",
    "std::net::TcpListener",
    "std::net::UdpSocket",
    "std::process",
];

/// "About 600 lines": code lines (not blank, not only a comment) outside
/// `#[cfg(test)]` modules.
const MAX_CODE_LINES: usize = 600;

fn layer_of(module: &str) -> Option<u8> {
    LAYERS
        .iter()
        .find(|(_, modules)| modules.contains(&module))
        .map(|(layer, _)| *layer)
}

struct SourceFile {
    /// Relative to `src/`, e.g. `web/api/messages.rs`.
    path: PathBuf,
    /// The module path of the file, e.g. `["web", "api", "messages"]`.
    module: Vec<String>,
    /// The file without comments and without its `#[cfg(test)]` modules.
    code: String,
}

fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_string());
    }
    parts
}

/// Drops `//` comments (doc comments too: they may name a module in a link)
/// and every item under `#[cfg(test)]`, which by convention closes a file.
fn code_of(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            break;
        }
        let line = match line.find("//") {
            // `//` inside a string literal (a URL) is rare in code lines and
            // only drops the rest of that line.
            Some(at) => &line[..at],
            None => line,
        };
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn code_lines(code: &str) -> usize {
    code.lines().filter(|l| !l.trim().is_empty()).count()
}

fn sources() -> Vec<SourceFile> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src/") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(&root).unwrap().to_path_buf();
                let text = std::fs::read_to_string(&path).expect("read source");
                files.push(SourceFile {
                    module: module_path(&relative),
                    path: relative,
                    code: code_of(&text),
                });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The top-level modules a file's code names: `crate::x`, `crate::{x, y}`
/// and `super::` paths that climb out of the file's own top-level module.
fn referenced_modules(file: &SourceFile) -> Vec<String> {
    let code = &file.code;
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = code[from..].find("crate::") {
        let start = from + at;
        from = start + "crate::".len();
        if start > 0 && code[..start].ends_with(|c: char| is_ident(c) || c == ':' || c == '$') {
            continue; // `$crate::` or `other_crate::`
        }
        let rest = &code[from..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = matching_brace(group);
            for item in split_top_level(&group[..end]) {
                let name: String = item.trim().chars().take_while(|&c| is_ident(c)).collect();
                if !name.is_empty() {
                    found.push(name);
                }
            }
        } else {
            let name: String = rest.chars().take_while(|&c| is_ident(c)).collect();
            found.push(name);
        }
    }
    // `super::super::x` from web/api/messages.rs is web::x: only a climb to
    // the crate root names another top-level module.
    let depth = file.module.len();
    from = 0;
    while let Some(at) = code[from..].find("super::") {
        let start = from + at;
        if start > 0 && code[..start].ends_with(|c: char| is_ident(c) || c == ':' || c == '$') {
            from = start + 1;
            continue;
        }
        let mut rest = &code[start..];
        let mut climbs = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            climbs += 1;
            rest = r;
        }
        from = code.len() - rest.len();
        if climbs >= depth {
            let name: String = rest.chars().take_while(|&c| is_ident(c)).collect();
            found.push(name);
        }
    }
    found.retain(|name| name != "self");
    found
}

fn matching_brace(text: &str) -> usize {
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    text.len()
}

fn split_top_level(text: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&text[start..]);
    items
}

/// Every use of a module from the same or a higher layer, as
/// `file: module (layer) uses other (layer)`.
fn back_edges(files: &[SourceFile]) -> Vec<String> {
    let mut errors = Vec::new();
    for file in files {
        let Some(top) = file.module.first() else {
            continue; // lib.rs: the module list
        };
        if top == "main" {
            continue; // the binary, above every layer
        }
        let Some(layer) = layer_of(top) else {
            errors.push(format!(
                "{}: module `{top}` has no layer in tests/layers.rs",
                file.path.display()
            ));
            continue;
        };
        for used in referenced_modules(file) {
            if &used == top {
                continue;
            }
            match layer_of(&used) {
                Some(other) if other < layer => {}
                Some(other) => errors.push(format!(
                    "{}: `{top}` (layer {layer}) uses `{used}` (layer {other})",
                    file.path.display()
                )),
                None => errors.push(format!(
                    "{}: uses `crate::{used}`, which has no layer",
                    file.path.display()
                )),
            }
        }
    }
    errors
}

fn io_in_domain(files: &[SourceFile]) -> Vec<String> {
    let mut errors = Vec::new();
    for file in files
        .iter()
        .filter(|f| f.module.first().is_some_and(|m| m == "domain"))
    {
        for path in IO_PATHS {
            let mut from = 0;
            while let Some(at) = file.code[from..].find(path) {
                let start = from + at;
                from = start + path.len();
                let before_ok =
                    !file.code[..start].ends_with(|c: char| is_ident(c) || c == ':' || c == '$');
                let after = &file.code[from..];
                let after_ok = after.starts_with("::") || after.starts_with(';');
                if before_ok && after_ok {
                    errors.push(format!("{}: the domain uses `{path}`", file.path.display()));
                    break;
                }
            }
        }
    }
    errors
}

#[test]
fn no_module_uses_one_of_its_own_or_a_higher_layer() {
    let errors = back_edges(&sources());
    assert!(
        errors.is_empty(),
        "layer violations:\n{}",
        errors.join("\n")
    );
}

#[test]
fn the_domain_does_no_io() {
    let errors = io_in_domain(&sources());
    assert!(
        errors.is_empty(),
        "I/O in the domain:\n{}",
        errors.join("\n")
    );
}

#[test]
fn every_file_reads_in_one_sitting() {
    let long: Vec<String> = sources()
        .iter()
        .map(|f| (f.path.display().to_string(), code_lines(&f.code)))
        .filter(|(_, lines)| *lines > MAX_CODE_LINES)
        .map(|(path, lines)| format!("{path}: {lines} lines of code"))
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_CODE_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_top_level_modules_form_no_circle() {
    // Implied by the layers, but said on its own so that a failure names
    // the circle rather than one edge of it.
    let files = sources();
    let mut edges: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in &files {
        if let Some(top) = file.module.first() {
            for used in referenced_modules(file) {
                if &used != top {
                    edges.entry(top.clone()).or_default().push(used);
                }
            }
        }
    }
    for start in edges.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = std::collections::BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for next in edges.get(&at).into_iter().flatten() {
                if next == start {
                    panic!("import circle: {} -> {start}", path.join(" -> "));
                }
                if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
}

// The checker itself, on made-up files: each rule must catch what it is for.

fn fake(path: &str, text: &str) -> SourceFile {
    SourceFile {
        path: PathBuf::from(path),
        module: module_path(Path::new(path)),
        code: code_of(text),
    }
}

#[test]
fn the_checker_sees_each_kind_of_back_edge() {
    let files = [
        fake("store/mod.rs", "use crate::web::Router;\n"),
        fake(
            "app/ops.rs",
            "use crate::{domain::Envelope, smtp::{Session, Step}};\n",
        ),
        fake(
            "smtp/session/mail.rs",
            "fn f() { super::super::super::config::load(); }\n",
        ),
        fake("web/api/x.rs", "use super::super::events::Events;\n"),
        fake("domain/search.rs", "use crate::store::Store;\n"),
        fake("mystery.rs", "fn f() {}\n"),
    ];
    let errors = back_edges(&files);
    let named = |needle: &str| errors.iter().any(|e| e.contains(needle));
    assert!(named("`store` (layer 2) uses `web`"), "{errors:?}");
    assert!(named("`app` (layer 3) uses `smtp`"), "{errors:?}");
    assert!(named("`smtp` (layer 4) uses `config`"), "{errors:?}");
    assert!(named("`domain` (layer 0) uses `store`"), "{errors:?}");
    assert!(named("module `mystery` has no layer"), "{errors:?}");
    // `super::super::events` from web/api/x.rs stays inside `web`.
    assert_eq!(errors.len(), 5, "{errors:?}");
}

#[test]
fn the_checker_ignores_comments_tests_and_allowed_edges() {
    let files = [
        fake(
            "web/api/x.rs",
            "//! Uses [`crate::config::Config`] in a doc link only.\n\
             use crate::app::App; // crate::server in a comment\n\
             #[cfg(test)]\nmod tests {\n    use crate::server::start;\n}\n",
        ),
        fake(
            "smtp/mod.rs",
            "macro_rules! m { () => { $crate::web::x() } }\n",
        ),
    ];
    assert_eq!(back_edges(&files), Vec::<String>::new());
}

#[test]
fn the_checker_finds_io_in_the_domain_and_counts_code_lines() {
    let files = [
        fake("domain/a.rs", "use tokio::sync::mpsc;\n"),
        fake("domain/b.rs", "fn f() { std::fs::read(\"x\"); }\n"),
        fake("domain/c.rs", "fn tokio_like() {} // tokio::spawn\n"),
        fake("store/d.rs", "use rusqlite::Connection;\n"),
    ];
    let errors = io_in_domain(&files);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains("domain/a.rs") && errors[1].contains("domain/b.rs"));
    assert_eq!(
        code_lines(&code_of("a\n\n// c\nb\n#[cfg(test)]\nmod t {}\n")),
        2
    );
}
