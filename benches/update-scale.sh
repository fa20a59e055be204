#!/usr/bin/env bash
# Update against rebuild at a million sentences with vectors: a synthetic Markov dump
# (distinct sentences, `synth-dump --markov`), a "newer" copy with 1 % of its pages edited and
# 0.1 % deleted, and a small random BERT whose vocabulary is the dump's frequent words
# (`tiny-model`): the model is fast, so the rebuild it is compared with is far quicker than
# one with a real model, and the ratio is an upper bound of the real one.
#
# usage: benches/update-scale.sh [SIZE_MB (136 ≈ 1 M sentences)]
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-136}
T=${WIKIRAG_BENCH_DIR:-$(mktemp -d)}
cargo build --release -q -p wikirag -p wikirag-benches --bins
B=target/release/wikirag
[[ -f $T/old.xml ]] || target/release/synth-dump --markov --size-mb "$SIZE" --out "$T/old.xml"
python3 benches/mutate-dump.py "$T/old.xml" "$T/new.xml" 100 1000
target/release/tiny-model --out "$T/tiny" --vocab-from "$T/old.xml" --dim 64
run() { /usr/bin/time -f "%e s, peak RSS %M KB" "$@"; }
rm -rf "$T/idx" "$T/fresh"
echo "== build of the old dump";   run $B index -q "$T/old.xml" --model "$T/tiny" --out "$T/idx"
echo "== rebuild from the new dump"; run $B index -q "$T/new.xml" --model "$T/tiny" --out "$T/fresh"
echo "== update of the old index"; run $B update --index "$T/idx" "$T/new.xml" --json > "$T/update.json"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print({k: r[k] for k in ["pages_added","pages_changed","pages_deleted","pages_unchanged","sentences_embedded","vectors_removed","seconds"]})' "$T/update.json"
$B inspect --index "$T/idx" | grep -E "^counts|^vectors|^update"
$B inspect --index "$T/fresh" | grep -E "^counts|^vectors|^duration"
