#!/usr/bin/env bash
# Side by side on the same machine and the same dump: wikiextractor (the tool people use to get
# clean text out of a dump) vs wikirag's text stage (`wikirag extract`: parse, clean, split
# sentences). Both are pinned to ONE core (taskset -c 0) and read uncompressed XML, so this
# compares the text stage, not decompression. Prints MB/s of XML for each and the ratio.
#
# Usage: benches/compare-wikiextractor.sh [DUMP.xml]
#   default: a 100 MiB synthetic XML dump generated from the shared enwiki sample
#   (target/bench-data/synth-100.xml, labelled SYNTHETIC in its <siteinfo>).
# Then, if a multistream file is given as MULTISTREAM=path, it also measures decompression
# scaling: reading (no cleaning) with 1 and 2 threads.
set -euo pipefail
cd "$(dirname "$0")/.."
work=target/bench-data
mkdir -p "$work"

cargo build --release -q -p wikirag -p wikirag-benches
bin=target/release/wikirag

dump=${1:-}
if [ -z "$dump" ]; then
  dump=$work/synth-100.xml
  [ -f "$dump" ] || target/release/synth-dump --size-mb 100 --out "$dump"
fi
bytes=$(stat -c %s "$dump")

venv=$work/venv
if [ ! -x "$venv/bin/wikiextractor" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q wikiextractor
fi

secs() { /usr/bin/env python3 -c 'import sys,time,subprocess; t=time.perf_counter(); subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); print(f"{time.perf_counter()-t:.2f}")' "$@"; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "dump: $dump ($((bytes / 1048576)) MiB of XML), one core each"
we=$(secs taskset -c 0 "$venv/bin/wikiextractor" "$dump" --processes 1 -q -o "$out/we")
wr=$(secs taskset -c 0 "$bin" extract "$dump" -j 1 -q -o "$out/wikirag.txt")
python3 - "$bytes" "$we" "$wr" <<'PY'
import sys
b, we, wr = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print(f"wikiextractor   {we:8.2f} s  {b/1e6/we:8.1f} MB/s")
print(f"wikirag extract {wr:8.2f} s  {b/1e6/wr:8.1f} MB/s")
print(f"ratio: wikirag is {we/wr:.1f}x faster (target >= 20x)")
PY

if [ -n "${MULTISTREAM:-}" ]; then
  size=$(stat -c %s "$MULTISTREAM")
  echo "decompression + XML (no cleaning: --namespaces 9999) of $MULTISTREAM ($((size / 1048576)) MiB bz2)"
  s1=$(secs "$bin" extract "$MULTISTREAM" --namespaces 9999 -q -j 1 -o /dev/null)
  s2=$(secs "$bin" extract "$MULTISTREAM" --namespaces 9999 -q -j 2 -o /dev/null)
  sq=$(secs "$bin" extract "$MULTISTREAM" --namespaces 9999 -q --sequential -o /dev/null)
  python3 - "$size" "$sq" "$s1" "$s2" <<'PY'
import sys
b, sq, s1, s2 = int(sys.argv[1]), *map(float, sys.argv[2:])
print(f"sequential MultiBzDecoder {sq:7.2f} s {b/1e6/sq:6.1f} MB/s compressed")
print(f"parallel, 1 thread        {s1:7.2f} s {b/1e6/s1:6.1f} MB/s compressed")
print(f"parallel, 2 threads       {s2:7.2f} s {b/1e6/s2:6.1f} MB/s compressed")
print(f"scaling 2 threads / 1 thread: {s1/s2:.2f}x (target >= 1.8x)")
PY
fi
