#!/usr/bin/env bash
# SMTP ingest benchmark: Letterbox (durable, default settings) against
# postfix's smtp-sink (accepts and discards: the ceiling), both driven by
# postfix's smtp-source through shared/tools/load-smtp.sh, in the same run.
#
#   benches/ingest.sh [N] [SIZE]      defaults: 10000 messages of 5000 bytes
#
# Needs postfix's smtp-source and smtp-sink (Debian package `postfix`; the
# script installs it without a mail daemon when apt-get is available).
# Prints msgs/s for 10 sessions and for 1 session, the ratio to smtp-sink,
# and Letterbox's peak RSS. Numbers are noisy on small machines: compare
# ratios from one run, not absolute rates across runs.
set -euo pipefail

N=${1:-10000}
SIZE=${2:-5000}
repo=$(cd "$(dirname "$0")/.." && pwd)
shared=${LETTERBOX_SHARED:-$repo/../shared}
load="$shared/tools/load-smtp.sh"
[ -x "$load" ] || { echo "missing $load (set LETTERBOX_SHARED)" >&2; exit 2; }

if ! command -v smtp-sink >/dev/null && [ ! -x /usr/sbin/smtp-sink ]; then
  echo "installing postfix (smtp-source, smtp-sink) without a mail daemon..." >&2
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  echo "postfix postfix/mailname string localhost" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
fi
SINK=$(command -v smtp-sink || echo /usr/sbin/smtp-sink)

cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
bin="$repo/target/release/letterbox"

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listening on $1" >&2; return 1
}

sink_port=$(free_port)
"$SINK" -u nobody -h sink.example.test "127.0.0.1:$sink_port" 1024 &
pids+=($!)

# One fresh Letterbox per scenario, so each starts from an empty store.
start_letterbox() {
  lb_smtp=$(free_port); lb_http=$(free_port)
  rm -f "$work"/bench.db*
  "$bin" --smtp "127.0.0.1:$lb_smtp" --http "127.0.0.1:$lb_http" \
    --db "$work/bench.db" --max-messages "$N" >"$work/lb.out" 2>"$work/lb.err" &
  lb_pid=$!
  pids+=($lb_pid)
  wait_port "$lb_smtp"
}

stop_letterbox() {
  lb_rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$lb_pid/status")
  stored=$(curl -s "http://127.0.0.1:$lb_http/api/v1/info" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Messages"])')
  kill "$lb_pid"; wait "$lb_pid" 2>/dev/null || true
}

run() { "$load" "$1" "$N" "$2" "$SIZE" 2>"$work/load.err" | tail -1; }

wait_port "$sink_port"
printf '%-28s %12s %12s %8s %10s %8s\n' scenario "letterbox/s" "smtp-sink/s" ratio "peak RSS" stored
for conc in 10 1; do
  sink_rate=$(run "$sink_port" "$conc")
  start_letterbox
  lb_rate=$(run "$lb_smtp" "$conc")
  stop_letterbox
  ratio=$(awk -v a="$lb_rate" -v b="$sink_rate" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "n/a" }')
  printf '%-28s %12s %12s %8s %7d MB %8s\n' "$N x ${SIZE}B, $conc session(s)" "$lb_rate" "$sink_rate" "$ratio" $((lb_rss_kb / 1024)) "$stored"
done
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
