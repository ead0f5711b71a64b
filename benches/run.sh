#!/usr/bin/env bash
# Every benchmark of BENCHMARKS.md in one run, printing each one's table:
#
#   benches/run.sh            ingest (Letterbox vs MailCrab and smtp-sink, three
#                             scenarios), live push latency, big mail, and
#                             scale (100,000 messages)
#   benches/run.sh ingest     the ingest table alone (ROUNDS=3 repeats it)
#   benches/run.sh quick      smaller sizes, for a check that all of it works
#
# Needs postfix's smtp-source/smtp-sink (benches/ingest.sh installs them),
# and a Rust toolchain (MailCrab's harness is built from
# ../shared/tools/mailcrab-harness). Takes about 10 minutes on
# two cores. Run it on an otherwise idle machine, and compare ratios within
# one run rather than absolute numbers across machines.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = ingest ]; then
  exec benches/ingest.sh 10000 5000
fi
if [ "${1:-}" = quick ]; then
  ingest=(1000 5000) push=200 big=5 scale=(5000 50)
else
  ingest=(10000 5000) push=1000 big=50 scale=(100000 200)
fi

echo "== SMTP ingest =="
benches/ingest.sh "${ingest[@]}"
echo
echo "== Live push latency =="
cargo bench --quiet --bench push_latency -- "$push"
echo
echo "== Big mail =="
cargo bench --quiet --bench big_mail -- "$big"
echo
echo "== Scale =="
benches/scale.sh "${scale[@]}"
