#!/usr/bin/env bash
# Cost of `wikirag update` against a full rebuild, with vectors: a real dump, and a "newer"
# copy of it with 1 % of its pages edited and 0.1 % deleted (benches/mutate-dump.py).
# Also checks that the updated index answers the language's question set like the rebuild.
#
# usage: benches/update-cost.sh [MODEL_DIR] [en|fr]
# Numbers go to benches/RESULTS.md ("Updates").
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-models/all-MiniLM-L6-v2}
L=${2:-en}
W=${WIKIRAG_SHARED_WIKI:-../shared/data/wiki}
DUMP=$W/${L}wiki-vital10k-leads.xml.bz2
cargo build --release -q -p wikirag
B=target/release/wikirag
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
python3 benches/mutate-dump.py "$DUMP" "$T/new.xml" 100 1000
secs() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }
t0=$(date +%s.%N)
$B index -q "$DUMP" --out "$T/old" --model "$MODEL" >/dev/null
t1=$(date +%s.%N)
$B index -q "$T/new.xml" --out "$T/fresh" --model "$MODEL" >/dev/null
t2=$(date +%s.%N)
$B update -q --index "$T/old" "$T/new.xml" --json > "$T/update.json"
t3=$(date +%s.%N)
python3 - "$T/update.json" "$t1" "$t2" "$t3" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
t1, t2, t3 = map(float, sys.argv[2:])
rebuild, update = t2 - t1, t3 - t2
print(f"rebuild {rebuild:.1f} s, update {update:.1f} s ({100 * update / rebuild:.1f} % of the rebuild)")
print(f"pages: {r['pages_added']} added, {r['pages_changed']} changed, {r['pages_deleted']} deleted, "
      f"{r['pages_unchanged']} unchanged; sentences embedded {r['sentences_embedded']}, vectors removed {r['vectors_removed']}")
PY
$B inspect --index "$T/old" | grep -E "^counts|^vectors|^generation|^update"
$B inspect --index "$T/fresh" | grep -E "^counts|^vectors"
# Same quality on the language's question set, by each mode (latency columns left out).
for idx in old fresh; do
  $B eval --index "$T/$idx" --qa tests/eval/${L}wiki-vital.jsonl -k 10 --sweep mode=bm25,dense,hybrid \
    | grep -vi "ms" > "$T/eval-$idx.txt" || true
done
if diff "$T/eval-old.txt" "$T/eval-fresh.txt"; then echo "evaluation: updated = rebuilt"; cat "$T/eval-old.txt"; fi
