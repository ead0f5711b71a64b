#!/usr/bin/env bash
# The web UI's waits with a full store, in real Chromium:
#
#   benches/ui_timings.sh [MESSAGES] [ROUNDS]     (defaults: 2000 and 10)
#
# Builds the release binary, starts it on a fresh temporary store, sends
# MESSAGES varied messages over SMTP (Python's smtplib; one in ten is an
# "invoice", the word the search step looks for), then runs
# benches/ui_timings.mjs. Needs Debian's chromium, node and npm (the
# playwright-core package is installed by ../shared/tools/install-clients.sh,
# or here into $TMPDIR/letterbox-peers/clients when missing).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
messages="${1:-2000}"
rounds="${2:-10}"
clients="${CLIENTS_DIR:-${TMPDIR:-/tmp}/letterbox-peers/clients}"

command -v chromium >/dev/null || { echo "needs Debian's chromium: apt-get install -y chromium" >&2; exit 2; }
if [ ! -d "$clients/node_modules/playwright-core" ]; then
  mkdir -p "$clients"
  npm install --prefix "$clients" --no-audit --no-fund playwright-core >/dev/null
fi
cargo build --release --quiet --manifest-path "$repo/Cargo.toml"

source "$repo/benches/support/servers.sh"
smtp=$(free_port)
http=$(free_port)
"$repo/target/release/letterbox" --db :memory: --smtp "127.0.0.1:$smtp" --http "127.0.0.1:$http" >/dev/null 2>&1 &
track $!
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$http/readyz" >/dev/null && break
  sleep 0.1
done

python3 - "$smtp" "$messages" <<'EOF'
import smtplib, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
with smtplib.SMTP("127.0.0.1", port) as smtp:
    for n in range(count):
        topic = "invoice" if n % 10 == 0 else "newsletter"
        body = (f"From: Shop {n % 7} <shop{n % 7}@example.test>\r\nTo: user{n % 13}@example.test\r\n"
                f"Subject: Your {topic} number {n}\r\nContent-Type: text/plain\r\n\r\n"
                + f"Line {n} of a message about your {topic}.\r\n" * 40)
        smtp.sendmail(f"shop{n % 7}@example.test", [f"user{n % 13}@example.test"], body)
EOF

CLIENTS_DIR="$clients" node "$repo/benches/ui_timings.mjs" "http://127.0.0.1:$http" "$rounds"
