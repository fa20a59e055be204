#!/usr/bin/env bash
# The distributed build against one machine, on this machine: a real local Ray cluster (a head
# and 1 or 2 worker nodes of one CPU each, separate processes on loopback) builds a dump split
# into work units (`python -m wikirag_ray build`, one `wikirag index --part -j 1` per unit), and
# `wikirag index -j 1` / `-j 2` builds the same dump. Prints wall times, sentences/s, the
# coordination overhead per unit (wall × workers − Σ unit build time, per unit) and the merge.
#
#   benches/ray-build.sh                       # frwiki vital leads, all-MiniLM-L6-v2, 8 units
#   UNITS=16 MODEL=models/multilingual-e5-small-q4 benches/ray-build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${WIKIRAG:-target/release/wikirag}
PY=${PY:-.ci/py/bin/python}
MODEL=${MODEL:-models/all-MiniLM-L6-v2}
SRC=${SRC:-../shared/data/wiki/frwiki-vital10k-leads.xml.bz2}
UNITS=${UNITS:-8}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export PYTHONPATH=$PWD/python
"$PY" -m wikirag_ray repack "$SRC" "$W/d-multistream.xml.bz2" 2>/dev/null
for j in 1 2; do
  s=$(date +%s.%N)
  RAYON_NUM_THREADS=$j "$BIN" index "$W/d-multistream.xml.bz2" --model "$MODEL" --out "$W/single$j" -j "$j" \
    --embed-workers "$j" -q >/dev/null
  e=$(date +%s.%N)
  echo "{\"single_j\": $j, \"seconds\": $(echo "$e - $s" | bc)}" >>"$W/results.jsonl"
done
for workers in 1 2; do
  "$PY" tests/ray/cluster.py --ray "$(dirname "$PY")/ray" --out "$W/c$workers" --workers "$workers" \
    "$W/d-multistream.xml.bz2" --units-per-file "$UNITS" --wikirag "$PWD/$BIN" --model "$MODEL" \
    2>/dev/null | tail -1 >>"$W/results.jsonl"
done
"$PY" - "$W" <<'PY'
import json, sys
w = sys.argv[1]
rows = [json.loads(l) for l in open(f"{w}/results.jsonl")]
single = {r["single_j"]: r["seconds"] for r in rows if "single_j" in r}
m = json.load(open(f"{w}/single1/manifest.json"))
n = m["counts"]["sentences"]
print(f"dump: {m['dumps'][0]['file_name']} ({m['dumps'][0]['bytes'] >> 10} KiB), {n} sentences, "
      f"model {m['embedding']['model']['name']}")
for j, s in sorted(single.items()):
    print(f"one machine, wikirag index -j {j}: {s:.1f} s, {n / s:.0f} sentences/s")
for workers, r in zip([1, 2], [r for r in rows if "events" in r]):
    assert r["ok"], r
    units = [e for e in r["events"] if e.get("event") == "unit"]
    done = [e for e in r["events"] if e.get("event") == "done"][0]
    task = sum(e["seconds"] for e in units)
    wall = done["build_seconds"]
    over = (wall * workers - task) / len(units)
    print(f"Ray, {workers} worker node(s) x 1 CPU, {len(units)} units: build {wall:.1f} s "
          f"({n / wall:.0f} sentences/s), merge {done['merge_seconds']:.1f} s, "
          f"unit builds {task:.1f} s in all ({task / len(units):.2f} s each), "
          f"coordination {over:.2f} s per unit; cluster start {r['cluster_start_seconds']:.0f} s")
PY
