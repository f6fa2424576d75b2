#!/usr/bin/env bash
# Fails when regenerating proto/pushpb would change a committed file.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bash "$root/proto/gen.sh" "$tmp"
status=0
for f in "$tmp"/*; do
  name=$(basename "$f")
  if ! cmp -s "$f" "$root/proto/pushpb/$name"; then
    echo "proto/check.sh: proto/pushpb/$name is out of date: run make proto" >&2
    status=1
  fi
done
for f in "$root"/proto/pushpb/*.go; do
  [[ "$(basename "$f")" == doc.go ]] && continue # the package comment, written by hand
  [[ -e "$tmp/$(basename "$f")" ]] || { echo "proto/check.sh: proto/pushpb/$(basename "$f") is not generated" >&2; status=1; }
done
exit $status
