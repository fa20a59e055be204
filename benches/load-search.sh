#!/usr/bin/env bash
# Server throughput for POST /v1/search under wrk on loopback.
#   [MODE=bm25|dense|hybrid] [SERVER_ARGS="--queue-wait-ms 0"] [NO_BUILD=1] \
#   benches/load-search.sh INDEX_DIR [SECONDS] [CONNECTIONS]
# Needs wrk (Debian package). Builds the release binary, serves INDEX_DIR, loads it with
# queries from the English dev set (round robin), prints wrk's summary (errors included) and
# a count of each non-200 status.
set -euo pipefail
cd "$(dirname "$0")/.."
index=${1:?index directory}
secs=${2:-10}
conns=${3:-16}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
mode=${MODE:-bm25}
[[ -n ${NO_BUILD:-} ]] || cargo build --release -q -p wikirag
port=18080
# shellcheck disable=SC2086
target/release/wikirag serve --index "$index" --addr 127.0.0.1:$port --mode "$mode" \
  ${SERVER_ARGS:---max-concurrent 64} &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf http://127.0.0.1:$port/health >/dev/null && break; sleep 0.2; done
lua=$(mktemp --suffix=.lua)
python3 - "$lua" <<'PY'
import json, sys
qs = [json.loads(l)["question"] for l in open("tests/eval/enwiki-2016.jsonl")]
with open(sys.argv[1], "w") as f:
    f.write("local bodies = {\n")
    for q in qs:
        f.write("  %s,\n" % json.dumps(json.dumps({"query": q, "k": 10})))
    f.write("}\nlocal i = 0\nwrk.method = 'POST'\nwrk.headers['Content-Type'] = 'application/json'\n")
    f.write("request = function()\n  i = i % #bodies + 1\n  return wrk.format(nil, '/v1/search', nil, bodies[i])\nend\n")
    f.write("response = function(status, headers, body)\n  if status ~= 200 then io.write('status ' .. status .. '\\n') end\nend\n")
PY
out=$(mktemp)
wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$lua" http://127.0.0.1:$port/ >"$out"
grep -v '^status ' "$out"
echo "non-200 answers:"
grep '^status ' "$out" | sort | uniq -c || echo "  none"
rm -f "$lua" "$out"
