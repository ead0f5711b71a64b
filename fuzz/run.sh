#!/bin/sh
# Runs both fuzz targets one after the other, each for SECONDS (default 600).
# Usage: fuzz/run.sh [SECONDS]   (needs nightly and cargo-fuzz)
set -eu
cd "$(dirname "$0")"
secs="${1:-600}"
corpus="${LETTERBOX_CORPUS:-../../shared/corpus}"
mkdir -p corpus/smtp_session corpus/ingest_parse
nice cargo +nightly fuzz run smtp_session corpus/smtp_session seeds/smtp_session -- \
    -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048
extra=""
[ -d "$corpus" ] && extra="$corpus"
nice cargo +nightly fuzz run ingest_parse corpus/ingest_parse $extra -- \
    -max_total_time="$secs" -max_len=1048576 -timeout=10 -rss_limit_mb=2048
