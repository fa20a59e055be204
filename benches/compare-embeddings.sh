#!/usr/bin/env bash
# Embedding throughput, candle (wikirag) vs sentence-transformers (PyTorch CPU): same model,
# same sentences, same machine. Prints both JSON lines and the ratio.
#
#   benches/compare-embeddings.sh SENTENCES.txt [LIMIT] [PYTHON]
# SENTENCES.txt: one sentence per line (e.g. from `wikirag extract --json`);
# PYTHON: an interpreter with sentence-transformers installed (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
sentences=${1:?sentences file}
limit=${2:-1000}
python=${3:-python3}
model=models/all-MiniLM-L6-v2
[[ -f $model/model.safetensors ]] || scripts/fetch-model.sh
cargo build --release -q -p wikirag-benches --bin embed-throughput
candle=$(target/release/embed-throughput --model "$model" --sentences "$sentences" --limit "$limit")
torch=$("$python" benches/compare-embeddings.py "$model" "$sentences" 32 "$limit" 2>/dev/null | tail -1)
echo "$candle"
echo "$torch"
python3 - "$candle" "$torch" <<'PY'
import json, sys
c, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"wikirag {c['sentences_per_s']:.1f} sentences/s, sentence-transformers {t['sentences_per_s']:.1f}: ratio {c['sentences_per_s'] / t['sentences_per_s']:.2f}x")
PY
