#!/usr/bin/env bash
# API latency with a large store: fills Letterbox with N messages (default
# 100,000) through postfix's smtp-source, plus a few distinct ones, then
# times list, search and message-view requests and prints p50/p99 per
# request, a wait behind a burst, the time to restart until ready, pruning
# a tenth of the store by --max-messages, and the database size per message.
#
#   benches/scale.sh [N] [REQUESTS]     defaults: 100000 messages, 200 requests each
#   benches/scale.sh 1000000 50         the million-message store (issue 18)
#
# SCALE_SESSIONS (default 10) SMTP sessions fill the store.
# Goals: each request p50 <= 20 ms, start-up until ready <= 200 ms.
# SCALE_DB=postgres://... runs it on that (empty) PostgreSQL database;
# SCALE_DB=PATH on that SQLite file (with SCALE_FILL=no, a copy of a filled
# one: a run marks messages read, adds some and prunes).
# SCALE_FILL=only fills the store (and adds the distinct messages), then
# stops; SCALE_FILL=no measures a store filled that way before, so one fill
# serves several builds (on PostgreSQL, copy it first each time with
# `CREATE DATABASE run TEMPLATE filled`: a run marks messages read, adds
# some and prunes).
set -euo pipefail

N=${1:-100000}
REQUESTS=${2:-200}
repo=$(cd "$(dirname "$0")/.." && pwd)
shared=${LETTERBOX_SHARED:-$repo/../shared}
load="$shared/tools/load-smtp.sh"
[ -x "$load" ] || { echo "missing $load (set LETTERBOX_SHARED)" >&2; exit 2; }
command -v smtp-source >/dev/null || [ -x /usr/sbin/smtp-source ] || {
  echo "needs postfix's smtp-source: see benches/ingest.sh" >&2; exit 2; }

bin=${LETTERBOX_BIN:-}   # another build, as in ingest.sh
if [ -z "$bin" ]; then
  cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
  bin="$repo/target/release/letterbox"
fi
source "$repo/benches/support/servers.sh"
smtp=$(free_port); http=$(free_port); base="http://127.0.0.1:$http"

start() {
  "$bin" --smtp "127.0.0.1:$smtp" --http "127.0.0.1:$http" --db "${SCALE_DB:-$work/scale.db}" --max-messages 0 \
    >"$work/out" 2>"$work/err" &
  pid=$!; track "$pid"
  until curl -sf "$base/readyz" >/dev/null; do sleep 0.005; done
}

start
fill=${SCALE_FILL:-yes}
if [ "$fill" != no ]; then
  echo "filling $N messages..." >&2
  t0=$(date +%s%N)
  TIMEOUT=3600 "$load" "$smtp" "$N" "${SCALE_SESSIONS:-10}" 2000 >/dev/null 2>&1
  t1=$(date +%s%N)
  echo "filled $N messages over SMTP in $(( (t1 - t0) / 1000000000 )) s ($(( N * 1000 / ((t1 - t0) / 1000000 + 1) )) msg/s)"
  # A few distinct messages to search for among the bulk.
  for i in 1 2 3; do
    curl -sf -X POST "$base/api/v1/send" -d "{\"From\":{\"Email\":\"needle$i@example.test\"},\"To\":[{\"Email\":\"x@example.test\"}],\"Subject\":\"Needle $i\",\"Text\":\"haystack needle$i\",\"Headers\":{\"X-Needle\":\"n$i\"}}" >/dev/null
  done
fi
[ "$fill" = only ] && exit 0
stored=$(curl -sf "$base/api/v1/info" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Messages"])')
latest=$(curl -sf "$base/api/v1/messages?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"][0]["ID"])')

# p50/p99 in ms of REQUESTS GETs of a path.
time_path() {
  for _ in $(seq "$REQUESTS"); do curl -s -o /dev/null -w '%{time_total}\n' "$base$1"; done |
    sort -n | awk '{ t[NR] = $1 * 1000 } END { printf "%8.1f %8.1f\n", t[int(NR * 0.5)], t[int(NR * 0.99)] }'
}

deep=$((stored * 9 / 10)) last=$((stored - 50))
printf '%-44s %8s %8s\n' "request ($stored messages)" "p50 ms" "p99 ms"
for path in \
  "/api/v1/messages?limit=50" \
  "/api/v1/messages?start=$deep&limit=50" \
  "/api/v1/messages?start=$last&limit=50" \
  "/api/v1/search?query=needle2" \
  "/api/v1/search?query=load" \
  "/api/v1/search?query=load&start=$deep" \
  "/api/v1/search?query=subject:needle" \
  "/api/v1/search?query=header:X-Needle:n3" \
  "/api/v1/search?query=from:needle1%20is:unread" \
  "/api/v1/message/$latest" \
  "/api/v1/message/latest?query=needle1"; do
  printf '%-44s %s\n' "${path/$latest/<ID>}" "$(time_path "$path")"
done
# Until now every message was unread, so a word's unread matches are all of
# its matches. With one message read, that one is tested against the word.
curl -sf -X PUT "$base/api/v1/messages" -d "{\"IDs\":[\"$latest\"],\"Read\":true}" >/dev/null
path="/api/v1/search?query=load"
printf '%-44s %s\n' "$path (one message read)" "$(time_path "$path")"
# With half of them read, neither the read nor the unread are few: the
# matches are merged with the read ones.
half=$(curl -sf "$base/api/v1/messages?start=$((stored / 2))&limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"][0]["Created"])')
curl -sf -X PUT "$base/api/v1/messages" -d "{\"Search\":\"before:$half\",\"Read\":true}" >/dev/null
printf '%-44s %s\n' "$path (half read)" "$(time_path "$path")"

# A waiting request tests every new message against its query. This one
# ("example -load") fails for every message smtp-source sends, and both of
# its words are in all 100,000 stored ones: after a burst of 1,000, one
# message that matches is sent; how long until the wait answers?
curl -s -o /dev/null "$base/api/v1/wait?query=example%20-load&timeout=600s" &
waiter=$!
sleep 0.3
"$load" "$smtp" 1000 10 2000 >/dev/null 2>&1
t0=$(date +%s%N)
curl -sf -o /dev/null -X POST "$base/api/v1/send" -d '{"From":{"Email":"x@example.com"},"To":[{"Email":"y@example.com"}],"Subject":"the one","Text":"hi"}'
wait "$waiter"
t1=$(date +%s%N)
echo "wait answered $(( (t1 - t0) / 1000000 )) ms after its match, behind 1,000 messages that did not match"

kill "$pid"; wait "$pid" 2>/dev/null || true
t0=$(date +%s%N); start; t1=$(date +%s%N)
echo "restart until ready with $stored messages: $(( (t1 - t0) / 1000000 )) ms"
case "${SCALE_DB:-}" in
  postgres*) size=$(psql "$SCALE_DB" -Atc "SELECT pg_database_size(current_database())") ;;
  *) size=$(stat -c %s "${SCALE_DB:-$work/scale.db}") ;;
esac
echo "database: $(( size / 1048576 )) MiB, $(( size / stored )) bytes per message (2 KB bodies)"

# Pruning: restart keeping a tenth fewer; how long until they are gone?
keep=$((stored - stored / 10))
kill "$pid"; wait "$pid" 2>/dev/null || true
"$bin" --smtp "127.0.0.1:$smtp" --http "127.0.0.1:$http" --db "${SCALE_DB:-$work/scale.db}" --max-messages "$keep" \
  >"$work/out" 2>"$work/err" &
pid=$!; track "$pid"
t0=$(date +%s%N)
until [ "$(curl -sf "$base/api/v1/info" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Messages"])' 2>/dev/null)" = "$keep" ]; do
  sleep 0.05
done
t1=$(date +%s%N)
echo "pruned $((stored - keep)) messages by --max-messages in $(( (t1 - t0) / 1000000 )) ms (from start, while serving)"
path="/api/v1/messages?limit=50"
printf '%-44s %s\n' "$path (after pruning)" "$(time_path "$path")"
echo "machine: $(nproc) cores, $(uname -sr)"
