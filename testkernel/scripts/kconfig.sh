#!/bin/sh
# Writes a normalised .config: defaults, then each input file in order (a later
# value wins), then `name` as CONFIG_UK_NAME if given. Symbols are sorted
# bytewise so the same inputs always give the same bytes; unknown symbols are
# kept. The file is only rewritten when its content changes. Like Unikraft's Config.uk,
# CONFIG_UK_FULLVERSION is always the version make was given ($UK_FULLVERSION).
# usage: kconfig.sh OUT NAME DEFNAME FILE...
#   NAME (N=, may be empty) overrides CONFIG_UK_NAME; DEFNAME (basename of A=)
#   is used only when no input sets it.
set -eu
out=$1 name=$2 defname=$3
shift 3
tmp="$out.tmp.$$"
mkdir -p "$(dirname "$out")"
LC_ALL=C awk -v name="$name" -v defname="$defname" -v fullversion="${UK_FULLVERSION:-}" '
	# "CONFIG_X=v" or "# CONFIG_X is not set"; anything else is ignored,
	# like Kconfig does with comments and blank lines.
	/^CONFIG_[A-Za-z0-9_]+=/ {
		i = index($0, "="); val[substr($0, 1, i - 1)] = substr($0, i + 1); next
	}
	/^# CONFIG_[A-Za-z0-9_]+ is not set$/ { val[$2] = "n"; next }
	END {
		if (name != "") val["CONFIG_UK_NAME"] = "\"" name "\""
		else if (!("CONFIG_UK_NAME" in val)) val["CONFIG_UK_NAME"] = "\"" defname "\""
		if (fullversion != "") val["CONFIG_UK_FULLVERSION"] = "\"" fullversion "\""
		nx = (val["CONFIG_ARCH_X86_64"] == "y") + (val["CONFIG_ARCH_ARM_64"] == "y")
		if (nx != 1) {
			print "testkernel: exactly one of CONFIG_ARCH_X86_64=y or CONFIG_ARCH_ARM_64=y is required" > "/dev/stderr"
			exit 1
		}
		print "#"
		print "# Automatically generated file; DO NOT EDIT."
		print "# testkernel (Unikraft make-interface stand-in) Configuration"
		print "#"
		n = 0
		for (k in val) keys[++n] = k
		# insertion sort: tiny inputs, and awk has no portable sort
		for (i = 2; i <= n; i++) {
			k = keys[i]
			for (j = i - 1; j > 0 && keys[j] > k; j--) keys[j + 1] = keys[j]
			keys[j + 1] = k
		}
		for (i = 1; i <= n; i++) {
			k = keys[i]
			if (val[k] == "n" || val[k] == "") print "# " k " is not set"
			else print k "=" val[k]
		}
	}' "$@" > "$tmp" || { rm -f "$tmp"; exit 1; }
if cmp -s "$tmp" "$out"; then rm -f "$tmp"; else mv "$tmp" "$out"; fi
