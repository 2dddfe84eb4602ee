#!/usr/bin/env bash
# kiln's main job on the bundled example: build examples/hello-runtime (a runtime project whose
# rootfs becomes a reproducible initrd), build it again (a no-op), and list the archive.
# Booting arrives with kernel builds and `kiln run`; see README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
KILN="$PWD/target/release/kiln"
cd examples/hello-runtime
echo "== kiln plan =="
"$KILN" plan
echo "== kiln build --explain =="
"$KILN" build --explain
echo "== kiln build --explain (again: nothing to do) =="
"$KILN" build --explain
out=.unikraft/build/initramfs-x86_64.cpio
echo "== $out =="
b3sum "$out" 2>/dev/null || sha256sum "$out"
if command -v cpio >/dev/null; then cpio -itv < "$out"; fi
