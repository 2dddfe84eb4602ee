#!/bin/sh
# usage: writeifchanged.sh OUT LINE...  -- keeps OUT's mtime when the text is unchanged.
set -eu
mkdir -p "$(dirname "$1")"
out=$1
shift
tmp="$out.tmp.$$"
printf '%s\n' "$@" > "$tmp"
if cmp -s "$tmp" "$out"; then rm -f "$tmp"; else mv "$tmp" "$out"; fi
