#!/usr/bin/env bash
# SMTP ingest benchmark, side by side in one run:
#   Letterbox   durable, default settings (a 250 means committed to SQLite)
#   smtp-sink   postfix's server that accepts and discards: the ceiling
#   MailCrab    its own SMTP crate keeping parsed mail in a map, as its
#               server does (shared/tools/mailcrab-harness, built once into
#               target/mailcrab-harness)
#   MailDev     3.0 from npm (only with INGEST_PEERS=sink,mailcrab,maildev)
# all driven by postfix's smtp-source through shared/tools/load-smtp.sh.
#
#   benches/ingest.sh [N] [SIZE]      defaults: 10000 messages of 5000 bytes
#
# Scenarios: connection reuse with 10 sessions and with 1 session, and a
# new connection per message with 10 sessions. Prints msgs/s of each server,
# Letterbox's ratio to MailCrab and to smtp-sink, and each server's peak RSS.
# ROUNDS=3 runs every scenario three times, servers alternating, and prints
# each round (the median is for the reader to take).
# LETTERBOX_ARGS adds flags to Letterbox (e.g. "--durability power-loss"),
# LETTERBOX_BIN runs another build of it.
# Goals (issue 18): >= 1.0x MailCrab in each scenario, peak RSS <= 25 MB.
# INGEST_DB=postgres://... runs Letterbox on that PostgreSQL database
# instead (emptied before each scenario: every table in it is dropped).
# Numbers are noisy on small machines: compare ratios from one run, not
# absolute rates across runs.
set -euo pipefail

N=${1:-10000}
SIZE=${2:-5000}
PEERS=${INGEST_PEERS:-sink,mailcrab}
ROUNDS=${ROUNDS:-1}
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

# LETTERBOX_BIN runs a binary built elsewhere (another commit, for a
# before/after comparison) instead of building this tree's.
bin=${LETTERBOX_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
  bin="$repo/target/release/letterbox"
fi

# MailCrab's harness is built outside ../shared (read-only), once.
mailcrab="$repo/target/mailcrab-harness/target/release/mcharness"
case ",$PEERS," in *,mailcrab,*)
  if [ ! -x "$mailcrab" ]; then
    mkdir -p "$repo/target/mailcrab-harness"
    cp -r "$shared/tools/mailcrab-harness/." "$repo/target/mailcrab-harness/"
    chmod -R u+w "$repo/target/mailcrab-harness"
    cargo build --release --quiet --manifest-path "$repo/target/mailcrab-harness/Cargo.toml"
  fi ;;
esac

source "$repo/benches/support/servers.sh"

peak_rss_mb() { awk '/VmHWM/ {printf "%d", $2/1024}' "/proc/$1/status"; }
# User and system CPU time a process has used so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Each server is started fresh for each scenario, so each starts empty and
# its peak RSS belongs to that scenario. start_X sets port and pid.
start_sink() {
  port=$(free_port)
  "$SINK" -u nobody -h sink.example.test "127.0.0.1:$port" 1024 &
  pid=$!; track "$pid"; wait_port "$port"
}

start_letterbox() {
  port=$(free_port); lb_http=$(free_port)
  rm -f "$work"/bench.db*
  case "${INGEST_DB:-}" in
    postgres*) psql "$INGEST_DB" -q -c "DROP SCHEMA public CASCADE; CREATE SCHEMA public" 2>/dev/null ;;
  esac
  # shellcheck disable=SC2086 # LETTERBOX_ARGS is a list of flags
  "$bin" --smtp "127.0.0.1:$port" --http "127.0.0.1:$lb_http" \
    --db "${INGEST_DB:-$work/bench.db}" --max-messages "$N" ${LETTERBOX_ARGS:-} >"$work/lb.out" 2>"$work/lb.err" &
  pid=$!; track "$pid"; wait_port "$port"
}

start_mailcrab() {
  port=$(free_port)
  "$mailcrab" "$port" >"$work/mailcrab.out" 2>&1 &
  pid=$!; track "$pid"; wait_port "$port"
}

start_maildev() {
  port=$(free_port)
  local web; web=$(free_port)
  "$shared/tools/peer-maildev.sh" "$port" "$web" \
    >"$work/maildev.out" 2>&1 || { cat "$work/maildev.out" >&2; return 1; }
  pid=$(tail -1 "$work/maildev.out"); track "$pid"
}

stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }

# rate_of SERVER MODE CONC -> "msgs/s peakMB cpu_us_per_msg". The CPU time
# the server spent per message varies far less from run to run than the
# rate does on a shared machine: the load generator's share of the two
# cores does not enter it.
rate_of() {
  "start_$1" || { echo "- - -"; return; }
  local rate cpu0 cpu
  cpu0=$(cpu_ticks "$pid")
  rate=$(MODE=$2 "$load" "$port" "$N" "$3" "$SIZE" 2>"$work/load.err" | tail -1)
  cpu=$(( ($(cpu_ticks "$pid") - cpu0) * 1000000 / $(getconf CLK_TCK) / N ))
  local rss; rss=$(peak_rss_mb "$pid")
  if [ "$1" = letterbox ]; then
    # Runs in a command substitution: the count goes through a file.
    curl -s "http://127.0.0.1:$lb_http/api/v1/info" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["Messages"])' >"$work/stored"
  fi
  stop
  echo "$rate $rss $cpu"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b+0>0) printf "%.2fx", a/b; else print "n/a" }'; }

# One cell: "rate (RSS MB, CPU µs per message)", or "-" for a server not
# in INGEST_PEERS.
cell() { [ "$1" = - ] && echo - || echo "$1 ($2 MB, $3 us)"; }

printf '%-26s | %-26s | %-26s | %-26s | %-26s | %8s %8s | %s\n' \
  scenario "letterbox (RSS, CPU/msg)" "mailcrab (RSS, CPU/msg)" "smtp-sink (RSS, CPU/msg)" \
  "maildev (RSS, CPU/msg)" "vs crab" "vs sink" stored
for round in $(seq "$ROUNDS"); do
  for scenario in "reuse 10" "reuse 1" "connect 10"; do
    read -r mode conc <<<"$scenario"
    read -r lb lb_rss lb_cpu <<<"$(rate_of letterbox "$mode" "$conc")"
    declare -A rate=() rss=() cpu=()
    for peer in mailcrab sink maildev; do
      rate[$peer]=-; rss[$peer]=-; cpu[$peer]=-
      case ",$PEERS," in *,$peer,*)
        read -r "rate[$peer]" "rss[$peer]" "cpu[$peer]" <<<"$(rate_of "$peer" "$mode" "$conc")" ;;
      esac
    done
    printf '%-26s | %-26s | %-26s | %-26s | %-26s | %8s %8s | %s\n' \
      "$N x ${SIZE}B, $mode, $conc" "$(cell "$lb" "$lb_rss" "$lb_cpu")" \
      "$(cell "${rate[mailcrab]}" "${rss[mailcrab]}" "${cpu[mailcrab]}")" \
      "$(cell "${rate[sink]}" "${rss[sink]}" "${cpu[sink]}")" \
      "$(cell "${rate[maildev]}" "${rss[maildev]}" "${cpu[maildev]}")" \
      "$(ratio "$lb" "${rate[mailcrab]}")" "$(ratio "$lb" "${rate[sink]}")" "$(cat "$work/stored")"
  done
  if [ "$ROUNDS" -gt 1 ]; then echo "(end of round $round)"; fi
done
echo "msgs/s (peak RSS, CPU time the server used per message); goals: >= 1.0x MailCrab in each scenario, Letterbox peak RSS <= 25 MB"
echo "letterbox: ${LETTERBOX_ARGS:-defaults}"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
