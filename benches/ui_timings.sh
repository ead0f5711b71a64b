#!/usr/bin/env bash
# The web UI's waits with a full store, in real Chromium, for Letterbox and
# for MailDev 3.0 in the same run:
#
#   benches/ui_timings.sh [MESSAGES] [ROUNDS]     (defaults: 2000 and 10)
#
# Builds the release binary, starts it and MailDev (installed from npm by
# ../shared/tools/peer-maildev.sh) on fresh stores, sends both the same
# MESSAGES varied messages over SMTP (Python's smtplib; one in ten is an
# "invoice", the word the search step looks for), then runs
# benches/ui_timings.mjs, which prints one table with two columns per tool.
# UI_PEERS= (empty) times Letterbox alone; LETTERBOX_BIN another build. Needs Debian's chromium, node and
# npm (the playwright-core package is installed by
# ../shared/tools/install-clients.sh, or here into
# $TMPDIR/letterbox-peers/clients when missing).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
messages="${1:-2000}"
rounds="${2:-10}"
clients="${CLIENTS_DIR:-${TMPDIR:-/tmp}/letterbox-peers/clients}"
shared=${LETTERBOX_SHARED:-$repo/../shared}
peers="${UI_PEERS-maildev}"

command -v chromium >/dev/null || { echo "needs Debian's chromium: apt-get install -y chromium" >&2; exit 2; }
if [ ! -d "$clients/node_modules/playwright-core" ]; then
  mkdir -p "$clients"
  npm install --prefix "$clients" --no-audit --no-fund playwright-core >/dev/null
fi
# LETTERBOX_BIN times another build instead of building this one.
bin=${LETTERBOX_BIN:-$repo/target/release/letterbox}
[ -n "${LETTERBOX_BIN:-}" ] || cargo build --release --quiet --manifest-path "$repo/Cargo.toml"

source "$repo/benches/support/servers.sh"
smtp=$(free_port)
http=$(free_port)
"$bin" --db :memory: --smtp "127.0.0.1:$smtp" --http "127.0.0.1:$http" >/dev/null 2>&1 &
track $!
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$http/readyz" >/dev/null && break
  sleep 0.1
done
targets=("letterbox=http://127.0.0.1:$http")
fill=("$smtp")

if [[ ",$peers," == *,maildev,* ]]; then
  maildev_smtp=$(free_port)
  maildev_http=$(free_port)
  # Its last line is the PID; its .eml copies go to the scratch directory, removed at exit.
  "$shared/tools/peer-maildev.sh" "$maildev_smtp" "$maildev_http" --mail-directory "$work/maildev" \
    >"$work/maildev.out" 2>&1 || { cat "$work/maildev.out" >&2; exit 1; }
  track "$(tail -1 "$work/maildev.out")"
  targets+=("maildev=http://127.0.0.1:$maildev_http")
  fill+=("$maildev_smtp")
fi

# The same messages, in the same order, to each server, one session each.
python3 - "$messages" "${fill[@]}" <<'EOF'
import smtplib, sys
count, ports = int(sys.argv[1]), [int(p) for p in sys.argv[2:]]
for port in ports:
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for n in range(count):
            topic = "invoice" if n % 10 == 0 else "newsletter"
            body = (f"From: Shop {n % 7} <shop{n % 7}@example.test>\r\nTo: user{n % 13}@example.test\r\n"
                    f"Subject: Your {topic} number {n}\r\nContent-Type: text/plain\r\n\r\n"
                    + f"Line {n} of a message about your {topic}.\r\n" * 40)
            smtp.sendmail(f"shop{n % 7}@example.test", [f"user{n % 13}@example.test"], body)
EOF

# The machine may be shared: say how busy it was.
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
CLIENTS_DIR="$clients" node "$repo/benches/ui_timings.mjs" "$rounds" "${targets[@]}"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
