#!/usr/bin/env bash
# Bulk (passage) embedding throughput: the f32 pass against the int8 one (AVX-512 VNNI, and the
# AVX2 kernel forced), MiniLM on English and multilingual-e5-small on French sentences, one
# worker and all cores, the runs interleaved (rounds) so a busy machine hits all alike.
#
# An AVX2-only CPU is played by a second binary (`avx2-only-*` runs): built in a worktree of HEAD
# with gemm's AVX-512 kernels left out (its `x86-v4` feature, which only wikirag-models asks for),
# run with WIKIRAG_SIMD=avx2 so wikirag's own kernels (layer norm, softmax, GELU, the int8
# products) take their AVX2 paths too: both passes as an AVX2-only machine runs them.
#
#   benches/embed-precision.sh EN_SENTENCES FR_SENTENCES [N] [ROUNDS]
#
# (AVX2_TREE and AVX2_TARGET_DIR place that worktree and its build; defaults under /tmp.)
#
# Sentence files: one per line, e.g. from `wikirag extract --json` of the enwiki 2016 and
# frwiki vital samples. Prints one JSON line per run.
set -euo pipefail
cd "$(dirname "$0")/.."
en=$1; fr=$2; n=${3:-2000}; rounds=${4:-2}
cargo build --release -q -p wikirag-benches --bin embed-throughput
bin=target/release/embed-throughput
avx2_tree=${AVX2_TREE:-/tmp/wikirag-avx2-only}
if [[ ! -d $avx2_tree ]]; then
  git worktree add -q --detach "$avx2_tree" HEAD
  sed -i 's/^gemm = { version = "0.19", features = \["x86-v4"\] }/gemm = { version = "0.19" }/' \
    "$avx2_tree/crates/wikirag-models/Cargo.toml"
  grep -q '^gemm = { version = "0.19" }' "$avx2_tree/crates/wikirag-models/Cargo.toml"
fi
avx2_target=${AVX2_TARGET_DIR:-$avx2_tree/target}
(cd "$avx2_tree" && CARGO_TARGET_DIR=$avx2_target cargo build --release -q -p wikirag-benches \
  --bin embed-throughput)
avx2_bin=$avx2_target/release/embed-throughput
for round in $(seq "$rounds"); do
  for workers in 1 0; do
    for setup in "minilm $en models/all-MiniLM-L6-v2" "e5 $fr models/multilingual-e5-small-q4"; do
      set -- $setup
      for run in f32 int8 avx2 avx2-only-f32 avx2-only-int8; do
        b=$bin
        case $run in
          f32) env=(); p=f32 ;;
          int8) env=(); p=int8 ;;
          avx2) env=(WIKIRAG_INT8_KERNEL=avx2); p=int8 ;;
          avx2-only-f32) env=(WIKIRAG_SIMD=avx2); p=f32; b=$avx2_bin ;;
          avx2-only-int8) env=(WIKIRAG_SIMD=avx2); p=int8; b=$avx2_bin ;;
        esac
        out=$(env "${env[@]}" "$b" --model "$3" --sentences "$2" --limit "$n" --batch 8 \
          --workers "$workers" --precision "$p")
        echo "{\"round\":$round,\"model\":\"$1\",\"run\":\"$run\",\"result\":$out}"
      done
    done
  done
done
