#!/bin/sh
# .config -> C header (like Kconfig's autoconf.h). The header is only
# rewritten when its content changes: every object depends on it, so an
# untouched header is what keeps a no-op build a no-op.
# usage: confighdr.sh CONFIG OUT
set -eu
tmp="$2.tmp.$$"
mkdir -p "$(dirname "$2")"
LC_ALL=C awk '
	BEGIN { print "/* Generated from .config by testkernel; do not edit. */" }
	/^CONFIG_[A-Za-z0-9_]+=/ {
		i = index($0, "="); k = substr($0, 1, i - 1); v = substr($0, i + 1)
		if (v == "y") print "#define " k " 1"
		else if (v == "m") print "#define " k "_MODULE 1"
		else if (v ~ /^"/ || v ~ /^-?[0-9]+$/ || v ~ /^0[xX][0-9a-fA-F]+$/) print "#define " k " " v
		else { gsub(/\\/, "\\\\", v); gsub(/"/, "\\\"", v); print "#define " k " \"" v "\"" }
	}' "$1" > "$tmp"
if cmp -s "$tmp" "$2"; then rm -f "$tmp"; else mv "$tmp" "$2" && echo "  GEN     include/uk/config.h"; fi
