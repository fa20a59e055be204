#!/usr/bin/env bash
# Two wikirag binaries side by side on the same machine, interleaved (A B A B …), so a change
# that should not move speed or results can be shown not to: index + embed time on a real dump,
# the counts it indexes, and BM25 / hybrid query latency and recall on a question set.
#
#   benches/ab-binaries.sh OLD_BINARY NEW_BINARY [DUMP] [QUESTIONS]
#
# Needs models/all-MiniLM-L6-v2 (scripts/fetch-model.sh). Numbers: benches/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:?old binary} new=${2:?new binary}
dump=${3:-${WIKIRAG_SHARED_WIKI:-../shared/data/wiki}/enwiki-2016-gensim-pages-articles1-p10p30302-shortened.xml.bz2}
qa=${4:-tests/eval/enwiki-2016.jsonl}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for round in 1 2 3; do
  for which in old new; do
    bin=${!which}
    rm -rf "$tmp/$which"
    start=$(date +%s.%N)
    "$bin" index -q --model models/all-MiniLM-L6-v2 -o "$tmp/$which" "$dump" >/dev/null
    echo "index+embed $which round $round: $(python3 -c "print(f'{$(date +%s.%N) - $start:.2f}')") s"
  done
done
for which in old new; do
  echo "$which: $("${!which}" inspect -i "$tmp/$which" | grep -E '^counts')"
done
for round in 1 2; do
  for which in old new; do
    for mode in bm25 hybrid; do
      "${!which}" eval -i "$tmp/$which" --qa "$qa" --mode "$mode" --json 2>/dev/null | python3 -c "
import json, sys
r = json.load(sys.stdin)
r = r[0] if isinstance(r, list) else r
l = r['latency_ms']
print(f'$which $mode round $round: p50 {l[\"p50\"]:.3f} ms, p95 {l[\"p95\"]:.3f} ms, recall@10 {r[\"recall_at\"][\"10\"]:.4f}')"
    done
  done
done
