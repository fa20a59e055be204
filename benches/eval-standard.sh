#!/usr/bin/env bash
# Retrieval quality on the standard evaluation corpora: each language's real sample plus its
# vital-leads dump in one index, with every question set of that language, BM25 / dense /
# hybrid, per kind. Builds the indexes once (multilingual-e5-small: ~6 min fr, ~11 min en on
# 2 cores; all-MiniLM-L6-v2 with MODEL=minilm) under $OUT (default /tmp/wikirag-standard).
#
#   benches/eval-standard.sh [e5|minilm] [EXTRA EVAL FLAGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-e5}
shift || true
case $which in
  e5) model=models/multilingual-e5-small-q4; [[ -f $model/model.safetensors ]] || scripts/fetch-e5.sh ;;
  minilm) model=models/all-MiniLM-L6-v2; [[ -f $model/model.safetensors ]] || scripts/fetch-model.sh ;;
  *) echo "usage: $0 [e5|minilm] [eval flags]" >&2; exit 2 ;;
esac
wiki=${WIKIRAG_SHARED_WIKI:-../shared/data/wiki}
out=${OUT:-/tmp/wikirag-standard}
cargo build --release -q -p wikirag
declare -A dumps=(
  [en]="$wiki/enwiki-2016-gensim-pages-articles1-p10p30302-shortened.xml.bz2 $wiki/enwiki-vital10k-leads.xml.bz2"
  [fr]="$wiki/frwiki-2022-maain-first22pages.xml $wiki/frwiki-vital10k-leads.xml.bz2"
)
declare -A sets=([en]="enwiki-vital enwiki-2016" [fr]="frwiki-vital frwiki-2022")
for lang in en fr; do
  idx=$out/$lang-$which
  if [[ ! -f $idx/manifest.json ]]; then
    # shellcheck disable=SC2086
    /usr/bin/time -f "$lang $which index: %e s, peak RSS %M KB" \
      target/release/wikirag index ${dumps[$lang]} --out "$idx" --force -q --model "$model"
  fi
  for set in ${sets[$lang]}; do
    echo "== $lang $which $set"
    target/release/wikirag eval --index "$idx" --qa "tests/eval/$set.jsonl" -k 10 \
      --sweep mode=bm25,dense,hybrid "$@"
    target/release/wikirag eval --index "$idx" --qa "tests/eval/$set.jsonl" -k 10 "$@" | grep -E '^[a-z]+ +n='
  done
done
