#!/usr/bin/env bash
# kiln's main job on the bundled examples, for a fresh Debian machine with Rust: build a
# kernel project (examples/hello-kernel, on the repository's test kernel: no network needed)
# and boot it under QEMU, then rebuild after a rootfs edit (a relink only); and build the
# runtime example's reproducible initrd. Installs gcc, make, cpio and QEMU when missing
# (as root, with apt-get).
set -euo pipefail
cd "$(dirname "$0")/.."
needs=(make:make gcc:gcc ld:binutils cpio:cpio qemu-system-x86_64:qemu-system-x86)
missing=()
for pair in "${needs[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if ((${#missing[@]})); then
  [ "$(id -u)" -eq 0 ] || { echo "demo: install ${missing[*]} (apt-get install ${missing[*]})" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
cargo build --release --quiet
KILN="$PWD/target/release/kiln"
export KILN_WATCH="${KILN_WATCH:-off}"

cd examples/hello-kernel
echo "== kiln plan (examples/hello-kernel) =="
"$KILN" plan --offline
echo "== kiln build --explain =="
"$KILN" build --explain
echo "== kiln run --rm -- /bin/hello --loud (boots under QEMU; TCG unless KVM really works) =="
"$KILN" run --rm
echo "== edit the rootfs, then build again: only initrd and embed run (a relink) =="
cp rootfs/etc/motd /tmp/kiln-demo-motd.bak
echo "Edited at $(date -u +%H:%M:%S)." > rootfs/etc/motd
"$KILN" build --explain 2>&1 | grep -E "compile|embed|initrd"
"$KILN" run --rm | grep motd
cp /tmp/kiln-demo-motd.bak rootfs/etc/motd
echo "== restore the rootfs: the earlier initrd and kernel come from the cache =="
"$KILN" build
echo "== a no-op build: nothing runs, make is not started =="
time "$KILN" build

cd ../hello-runtime
echo "== examples/hello-runtime: a reproducible initrd =="
"$KILN" build
b3sum .unikraft/build/initramfs-x86_64.cpio 2>/dev/null || sha256sum .unikraft/build/initramfs-x86_64.cpio
cpio -itv < .unikraft/build/initramfs-x86_64.cpio 2>/dev/null

cd ../hello-dockerfile
echo "== examples/hello-dockerfile: a Dockerfile rootfs, one step per instruction, no daemon =="
"$KILN" plan --offline
"$KILN" build
echo "== edit one copied file: only the COPYs that read it (and those after them) and the initrd run =="
cp site/style.css /tmp/kiln-demo-style.bak
echo "/* edited $(date -u +%H:%M:%S) */" >> site/style.css
"$KILN" build --explain 2>&1 | grep -E "ran|why: not cached" | head -8
cp /tmp/kiln-demo-style.bak site/style.css
"$KILN" build
cpio -itv < .unikraft/build/initramfs-x86_64.cpio 2>/dev/null
