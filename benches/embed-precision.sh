#!/usr/bin/env bash
# Bulk (passage) embedding throughput: the f32 pass against the int8 one (AVX-512 VNNI, and the
# AVX2 kernel forced), MiniLM on English and multilingual-e5-small on French sentences, one
# worker and all cores, the runs interleaved (rounds) so a busy machine hits all alike.
#
#   benches/embed-precision.sh EN_SENTENCES FR_SENTENCES [N] [ROUNDS]
#
# Sentence files: one per line, e.g. from `wikirag extract --json` of the enwiki 2016 and
# frwiki vital samples. Prints one JSON line per run.
set -euo pipefail
cd "$(dirname "$0")/.."
en=$1; fr=$2; n=${3:-2000}; rounds=${4:-2}
cargo build --release -q -p wikirag-benches --bin embed-throughput
bin=target/release/embed-throughput
for round in $(seq "$rounds"); do
  for workers in 1 0; do
    for setup in "minilm $en models/all-MiniLM-L6-v2" "e5 $fr models/multilingual-e5-small-q4"; do
      set -- $setup
      for run in f32 int8 avx2; do
        case $run in
          f32) env=(); p=f32 ;;
          int8) env=(); p=int8 ;;
          avx2) env=(WIKIRAG_INT8_KERNEL=avx2); p=int8 ;;
        esac
        out=$(env "${env[@]}" "$bin" --model "$3" --sentences "$2" --limit "$n" --batch 8 \
          --workers "$workers" --precision "$p")
        echo "{\"round\":$round,\"model\":\"$1\",\"run\":\"$run\",\"result\":$out}"
      done
    done
  done
done
