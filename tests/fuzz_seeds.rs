//! The fuzz targets' bodies (`letterbox::fuzzing`) on stable: over the
//! seed inputs, the shared MIME corpus, every crash the fuzzer ever found
//! (`fuzz/regressions/`), and a few thousand pseudo-random mutations of
//! them. The long coverage-guided runs are in `fuzz/` (see its README).

mod common;

use std::path::{Path, PathBuf};

use letterbox::fuzzing::{ingest_parse, smtp_session};

/// Random inputs per target; `LETTERBOX_FUZZ_ITERATIONS` raises it.
fn iterations() -> usize {
    std::env::var("LETTERBOX_FUZZ_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3000)
}

fn fuzz_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(sub)
}

/// Every file in `dir` (none if it does not exist), sorted.
fn files_in(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(PathBuf, Vec<u8>)> = entries
        .map(|e| e.expect("reading a fuzz directory").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).expect("reading a fuzz input");
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

/// xorshift64*: reproducible pseudo-random bytes without a crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Tokens that make mutations reach deeper states than random bytes do.
const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r\n.\r\n",
    b"EHLO x\r\n",
    b"MAIL FROM:<a@b>\r\n",
    b"RCPT TO:<c@d>\r\n",
    b"DATA\r\n",
    b"BDAT 4 LAST\r\n",
    b"BDAT 99999999999\r\n",
    b"AUTH PLAIN\r\n",
    b"STARTTLS\r\n",
    b"RSET\r\n",
    b"--b\r\n",
    b"Content-Type: multipart/mixed; boundary=b\r\n",
    b"Content-Type: message/rfc822\r\n\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"=?utf-8?B?w6k=?=",
    b"=\r\n",
    b"\0",
    b"\xff\xfe",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..=rng.below(8) {
        let at = rng.below(out.len() + 1);
        match rng.below(5) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] = rng.next() as u8;
            }
            1 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                out.splice(at..at, token.iter().copied());
            }
            2 if at < out.len() => {
                let end = (at + rng.below(64)).min(out.len());
                out.drain(at..end);
            }
            3 if !out.is_empty() => {
                // Repeat a slice: long lines, deep nesting, many parts.
                let start = rng.below(out.len());
                let end = (start + rng.below(128)).min(out.len());
                let slice = out[start..end].to_vec();
                for _ in 0..rng.below(32) {
                    out.splice(at..at, slice.iter().copied());
                }
            }
            _ => {
                let noise: Vec<u8> = (0..rng.below(32)).map(|_| rng.next() as u8).collect();
                out.splice(at..at, noise);
            }
        }
    }
    out
}

fn run(target: fn(&[u8]), seeds: &[(PathBuf, Vec<u8>)], rng_seed: u64) {
    assert!(!seeds.is_empty(), "no seed inputs");
    for (path, bytes) in seeds {
        eprintln!("seed {}", path.display());
        target(bytes);
    }
    let mut rng = Rng(rng_seed);
    for n in 0..iterations() {
        let (_, seed) = &seeds[rng.below(seeds.len())];
        let input = if n % 10 == 0 {
            (0..rng.below(512)).map(|_| rng.next() as u8).collect()
        } else {
            mutate(&mut rng, seed)
        };
        let outcome = std::panic::catch_unwind(|| target(&input));
        if outcome.is_err() {
            let path = std::env::temp_dir().join(format!("letterbox-fuzz-{rng_seed}-{n}"));
            let _ = std::fs::write(&path, &input);
            panic!("input {n} failed; saved to {}", path.display());
        }
    }
}

#[test]
fn smtp_session_survives_seeds_and_mutations() {
    let mut seeds = files_in(&fuzz_dir("seeds/smtp_session"));
    seeds.extend(files_in(&fuzz_dir("regressions/smtp_session")));
    run(smtp_session, &seeds, 0x5eed_0001);
}

#[test]
fn ingest_parse_survives_corpus_and_mutations() {
    // Without the shared corpus (a fresh clone) the fuzzer's own seeds
    // and regressions still run; corpus_files says what is missing.
    let mut seeds: Vec<(PathBuf, Vec<u8>)> =
        common::corpus_files("the corpus seeds of ingest_parse_survives_corpus_and_mutations")
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                let bytes = std::fs::read(&p).expect("reading a corpus file");
                (p, bytes)
            })
            .collect();
    seeds.extend(files_in(&fuzz_dir("regressions/ingest_parse")));
    run(ingest_parse, &seeds, 0x5eed_0002);
}
