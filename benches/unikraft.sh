#!/usr/bin/env bash
# Reproduces the real-Unikraft figures in BENCHMARKS.md, each side by side with plain make in
# one hyperfine run. Needs a Unikraft checkout (RELEASE-0.17.0), hyperfine, cpio, gcc, make,
# flex, bison:
#
#   git clone https://github.com/unikraft/unikraft /path/to/unikraft   # then: git checkout RELEASE-0.17.0
#   bash benches/unikraft.sh /path/to/unikraft [WORKDIR]
#
# The application is examples/catmotd (prints /etc/motd from an embedded initrd), built for
# qemu/x86_64 and fc/x86_64.
set -euo pipefail
cd "$(dirname "$0")/.."
UK="$(cd "${1:?usage: benches/unikraft.sh /path/to/unikraft [WORKDIR]}" && pwd)"
W="${2:-/tmp/kiln-bench-uk}"
cargo build --release --quiet
KILN="$PWD/target/release/kiln"
rm -rf "$W" && mkdir -p "$W"
export KILN_CACHE_DIR="$W/cache" KILN_WATCH=0
APP="$W/app"
cp -a examples/catmotd "$APP"
printf '  - fc/x86_64\n' >> "$APP/Kraftfile"
K=(--source "unikraft=$UK" --offline)
WORK="$APP/.unikraft/kiln/work/qemu-x86_64"
MAKE_ARGS=(-C "$UK" "A=$APP" "O=$WORK" "C=$WORK/.config" N=catmotd)

echo "== two targets at once vs one after the other (cold: empty cache and work dirs) =="
hyperfine --runs 3 --export-markdown "$W/parallel.md" \
  --prepare "rm -rf '$KILN_CACHE_DIR' '$APP/.unikraft'" \
  -n 'kiln build -j2 (both targets at once)' "cd '$APP' && '$KILN' build -j2 ${K[*]} 2>/dev/null" \
  --prepare "rm -rf '$KILN_CACHE_DIR' '$APP/.unikraft'" \
  -n 'kiln build -j2 -t qemu-x86_64, then -t fc-x86_64' \
  "cd '$APP' && '$KILN' build -j2 -t qemu-x86_64 ${K[*]} 2>/dev/null && '$KILN' build -j2 -t fc-x86_64 ${K[*]} 2>/dev/null"

echo; echo "== compilers alive at once, both targets, -j2 (a gcc wrapper counts them) =="
SHIM="$W/shim"; mkdir -p "$SHIM"
cat > "$SHIM/gcc" <<SH
#!/bin/sh
exec 9>$SHIM/lock
flock 9; n=\$(( \$(cat $SHIM/live 2>/dev/null || echo 0) + 1 )); echo \$n > $SHIM/live
m=\$(cat $SHIM/max 2>/dev/null || echo 0); [ \$n -gt \$m ] && echo \$n > $SHIM/max; flock -u 9
/usr/bin/gcc "\$@"; rc=\$?
flock 9; echo \$(( \$(cat $SHIM/live) - 1 )) > $SHIM/live; flock -u 9
exit \$rc
SH
chmod +x "$SHIM/gcc"
rm -rf "$KILN_CACHE_DIR" "$APP/.unikraft"
(cd "$APP" && PATH="$SHIM:$PATH" "$KILN" build -j2 "${K[@]}" 2>/dev/null)
echo "most gcc processes at once: $(cat "$SHIM/max")"

echo; echo "== no-op: kiln build vs make in the same work dir =="
(cd "$APP" && "$KILN" build "${K[@]}" 2>/dev/null)
hyperfine --warmup 2 --runs 10 --export-markdown "$W/noop.md" \
  -n 'kiln build (no-op, both targets)' "cd '$APP' && '$KILN' build ${K[*]} 2>/dev/null" \
  -n 'make (no-op, one target)' "make ${MAKE_ARGS[*]} >/dev/null 2>&1"

echo; echo "== rootfs-only change: kiln build vs GNU cpio + make's relink =="
i=0
hyperfine --warmup 1 --runs 8 --export-markdown "$W/relink.md" \
  --prepare "date +%s%N > '$APP/rootfs/etc/motd'" \
  -n 'kiln build -t qemu-x86_64 (initrd + embed)' \
  "cd '$APP' && '$KILN' build -t qemu-x86_64 ${K[*]} 2>/dev/null" \
  --prepare "date +%s%N > '$APP/rootfs/etc/motd'" \
  -n 'GNU cpio + make (relink)' \
  "cd '$APP/rootfs' && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 > '$WORK/initramfs.cpio' 2>/dev/null && make ${MAKE_ARGS[*]} >/dev/null 2>&1"
(cd "$APP" && "$KILN" build -t qemu-x86_64 --explain "${K[@]}" 2>&1 | grep -E "compile|embed" || true)
echo; echo "markdown tables: $W/*.md"

# Issue 11's sections on the same checkout: the remote cache (nginx, BuildGrid) and
# distributed compiles (icecream); WITH_REMOTE=1 runs them after the figures above.
if [ "${WITH_REMOTE:-0}" = 1 ]; then
  bash benches/remote.sh "$UK" "$W-remote"
  bash benches/distribute.sh "$UK" "$W-distribute"
fi
