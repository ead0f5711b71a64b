#!/usr/bin/env bash
# File import beside SMTP ingest, in one run, same messages count and size:
#   ingest of one mbox       letterbox ingest --db DB all.mbox
#   ingest of .eml files     letterbox ingest --db DB dir/ (one file each)
#   SMTP, 10 sessions        postfix's smtp-source into a running Letterbox
#                            (as benches/ingest.sh measures it)
#   SMTP, 1 session          the same, one session
#   ingest --smtp            letterbox ingest --smtp into a running Letterbox
#   mbox download            GET /api/v1/search/mbox of all N imported messages
#                            (the server's peak RSS before and after: the
#                            download is streamed, so it should barely move)
#
#   benches/import.sh [N] [SIZE]     defaults: 100000 messages, 2000-byte bodies
#
# Prints msgs/s and the peak RSS of the process that did the storing (the
# importing CLI, or the server), and the import's ratio to SMTP ingest.
# Goal (issue "Mail in and out"): import no slower than SMTP ingest.
set -euo pipefail

N=${1:-100000}
SIZE=${2:-2000}
repo=$(cd "$(dirname "$0")/.." && pwd)
shared=${LETTERBOX_SHARED:-$repo/../shared}
load="$shared/tools/load-smtp.sh"
[ -x "$load" ] || { echo "missing $load (set LETTERBOX_SHARED)" >&2; exit 2; }

# LETTERBOX_BIN: a binary already built (otherwise the release build).
if [ -z "${LETTERBOX_BIN:-}" ]; then
  cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
fi
bin=${LETTERBOX_BIN:-$repo/target/release/letterbox}

source "$repo/benches/support/servers.sh"

# The messages: an mbox and a directory of the same messages as .eml.
python3 - "$work" "$N" "$SIZE" <<'EOF'
import os, sys
work, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
line = b"x" * 76 + b"\r\n"
body = (line * (size // len(line) + 1))[:size].rstrip(b"x") + b"\r\n"
os.makedirs(f"{work}/eml")
with open(f"{work}/all.mbox", "wb") as mbox:
    for i in range(n):
        msg = (f"From: load@example.test\r\nTo: sink@example.test\r\n"
               f"Subject: load test {i}\r\nMessage-ID: <{i}@loadgen.example.test>\r\n"
               f"Date: Thu, 03 Dec 2026 08:00:00 +0000\r\n\r\n").encode() + body
        mbox.write(b"From load@example.test Thu Dec  3 08:00:00 2026\n" + msg + b"\r\n")
        with open(f"{work}/eml/{i:07d}.eml", "wb") as f:
            f.write(msg)
EOF

# rate_and_rss SECONDS KB -> "msgs/s MB"
rate_and_rss() { awk -v n="$N" -v s="$1" -v kb="$2" 'BEGIN{ printf "%.0f %d", n/s, kb/1024 }'; }

# import_rate PATH -> "msgs/s MB", timing the CLI and its peak RSS.
import_rate() {
  rm -f "$work"/import.db*
  /usr/bin/time -f "%e %M" -o "$work/time" \
    "$bin" ingest --db "$work/import.db" "$1" >"$work/import.out" 2>"$work/import.err"
  grep -q "imported $N messages" "$work/import.out" || { cat "$work/import.out" "$work/import.err" >&2; exit 1; }
  read -r secs kb <"$work/time"
  rate_and_rss "$secs" "$kb"
}

start_letterbox() {
  port=$(free_port); http=$(free_port)
  rm -f "$work"/smtp.db*
  "$bin" --smtp "127.0.0.1:$port" --http "127.0.0.1:$http" --db "$work/smtp.db" --max-messages "$N" \
    >"$work/lb.out" 2>"$work/lb.err" &
  pid=$!; track "$pid"; wait_port "$port"
}
stored() { curl -s "http://127.0.0.1:$http/api/v1/info" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Messages"])'; }
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
server_rss() { awk '/VmHWM/ {printf "%d", $2/1024}' "/proc/$pid/status"; }

# smtp_rate CONC -> "msgs/s MB"
smtp_rate() {
  start_letterbox
  local rate; rate=$(MODE=reuse "$load" "$port" "$N" "$1" "$SIZE" 2>/dev/null | tail -1)
  local rss; rss=$(server_rss); local n; n=$(stored); stop
  [ "$n" = "$N" ] || echo "SMTP $1: stored $n of $N" >&2
  echo "${rate%.*} $rss"
}

# ingest_smtp_rate -> "msgs/s MB" (the server's RSS)
ingest_smtp_rate() {
  start_letterbox
  local t0 t1; t0=$(date +%s.%N)
  "$bin" ingest --smtp "127.0.0.1:$port" "$work/all.mbox" >"$work/import.out" 2>"$work/import.err"
  t1=$(date +%s.%N)
  local rss; rss=$(server_rss); stop
  awk -v n="$N" -v a="$t0" -v b="$t1" -v r="$rss" 'BEGIN{ printf "%.0f %d", n/(b-a), r }'
}

read -r mbox mbox_rss <<<"$(import_rate "$work/all.mbox")"
read -r eml eml_rss <<<"$(import_rate "$work/eml")"
# The API's mbox download of everything just imported.
download() {
  port=$(free_port); http=$(free_port)
  "$bin" --smtp "127.0.0.1:$port" --http "127.0.0.1:$http" --db "$work/import.db" --max-messages "$N" \
    >"$work/lb.out" 2>"$work/lb.err" &
  pid=$!; track "$pid"; wait_port "$http"
  curl -s "http://127.0.0.1:$http/api/v1/messages?limit=1" >/dev/null
  local before; before=$(server_rss)
  local t0 t1; t0=$(date +%s.%N)
  curl -s -o "$work/download.mbox" "http://127.0.0.1:$http/api/v1/search/mbox"
  t1=$(date +%s.%N)
  local after; after=$(server_rss); stop
  local count; count=$(grep -c '^From load@example.test ' "$work/download.mbox")
  local bytes; bytes=$(stat -c %s "$work/download.mbox")
  rm -f "$work/download.mbox"
  awk -v n="$count" -v a="$t0" -v b="$t1" -v by="$bytes" -v r0="$before" -v r1="$after" \
    'BEGIN{ printf "%d messages, %.0f MB in %.1fs (%.0f msgs/s); server peak RSS %d MB before, %d MB after", n, by/1e6, b-a, n/(b-a), r0, r1 }'
}
mbox_download=$(download)

read -r smtp10 smtp10_rss <<<"$(smtp_rate 10)"
read -r smtp1 smtp1_rss <<<"$(smtp_rate 1)"
read -r viasmtp viasmtp_rss <<<"$(ingest_smtp_rate)"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b+0>0) printf "%.2fx", a/b; else print "n/a" }'; }
printf '%-34s | %9s | %8s | %s\n' "$N messages, ${SIZE}-byte bodies" "msgs/s" "peak RSS" "vs SMTP 10 sessions"
printf '%-34s | %9s | %5s MB | %s\n' "ingest one mbox" "$mbox" "$mbox_rss" "$(ratio "$mbox" "$smtp10")"
printf '%-34s | %9s | %5s MB | %s\n' "ingest a directory of .eml" "$eml" "$eml_rss" "$(ratio "$eml" "$smtp10")"
printf '%-34s | %9s | %5s MB | %s\n' "SMTP, 10 sessions (smtp-source)" "$smtp10" "$smtp10_rss" "1.00x"
printf '%-34s | %9s | %5s MB | %s\n' "SMTP, 1 session (smtp-source)" "$smtp1" "$smtp1_rss" "$(ratio "$smtp1" "$smtp10")"
printf '%-34s | %9s | %5s MB | %s\n' "ingest --smtp (1 session)" "$viasmtp" "$viasmtp_rss" "$(ratio "$viasmtp" "$smtp10")"
echo "mbox download: $mbox_download"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
