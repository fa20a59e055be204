#!/usr/bin/env bash
# The cleaned text of every real dump in the shared data (`wikirag extract`), compared with the
# SHA-256 recorded in scripts/extract-identity.sha256: a change to the reader, the cleaners or
# the sentence splitter that moves one byte of what the index sees shows here, per dump.
#
#   scripts/extract-identity.sh [BINARY]            check (exit 1 on any difference)
#   scripts/extract-identity.sh --record [BINARY]   write the current hashes (after a change
#                                                   to the text that was meant, and checked)
#
# BINARY defaults to target/debug/wikirag (what `cargo test` builds; optimised in this
# workspace). The dumps come from $WIKIRAG_SHARED_WIKI or ../shared/data/wiki.
set -euo pipefail
cd "$(dirname "$0")/.."

record=false
if [[ "${1:-}" == "--record" ]]; then
  record=true
  shift
fi
bin=${1:-target/debug/wikirag}
wiki=${WIKIRAG_SHARED_WIKI:-../shared/data/wiki}
expected=scripts/extract-identity.sha256
[[ -x "$bin" ]] || { echo "extract-identity: no binary at $bin (cargo build first)" >&2; exit 2; }
[[ -d "$wiki" ]] || { echo "extract-identity: no shared dumps at $wiki (set WIKIRAG_SHARED_WIKI)" >&2; exit 2; }

now=$(mktemp)
trap 'rm -f "$now"' EXIT
for dump in "$wiki"/*.xml "$wiki"/*.xml.bz2 "$wiki"/*.xml.gz; do
  [[ -f "$dump" ]] || continue
  name=$(basename "$dump")
  # One thread: the order of pages is the dump's, whatever the machine.
  sum=$("$bin" extract -q -j 1 "$dump" 2>/dev/null | sha256sum | cut -d' ' -f1) \
    || { echo "extract-identity: $name: wikirag extract failed" >&2; exit 1; }
  echo "$sum  $name" >>"$now"
done
sort -k2 -o "$now" "$now"

if $record; then
  cp "$now" "$expected"
  echo "extract-identity: recorded $(wc -l <"$expected") dumps in $expected"
  exit 0
fi
if ! diff -u "$expected" "$now"; then
  echo "extract-identity: the cleaned text changed for the dumps above (lines with -/+)." >&2
  echo "If the change was meant and checked, record it: scripts/extract-identity.sh --record" >&2
  exit 1
fi
echo "extract-identity: $(wc -l <"$now") dumps, cleaned text byte-identical"
