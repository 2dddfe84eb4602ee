#!/bin/bash
# Self-check of the testkernel: make interface, incremental behaviour and
# booting under QEMU/TCG. Works offline; leaves the source tree untouched
# (the app is copied into a temp dir so it can be edited).
# usage: testkernel/selftest.sh        (needs gcc, make, GNU cpio, qemu-system-x86_64;
#                                       arm64 part runs if aarch64-linux-gnu-gcc and
#                                       qemu-system-aarch64 exist)
set -euo pipefail
TK=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] && echo "kept $W" || rm -rf "$W"' EXIT
cp -r "$TK/example-app" "$W/app"
touch "$W/.start"
APP=$W/app
JOBS=$(nproc)
fails=0

ok() { printf 'ok   %s\n' "$1"; }
bad() { printf 'FAIL %s\n' "$1"; fails=$((fails + 1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
now() { date +%s.%N; }
elapsed() { printf '%.3f' "$(echo "$(now) - $1" | bc)"; }

# mk <out dir> <make args...>: the interface exactly as kiln calls it.
mk() {
	local o=$1
	shift
	make --no-print-directory -C "$TK" A="$APP" O="$o" C="$o/.config" N=hello "$@"
}
# Lines make printed for compile/assemble/link steps.
steps() { grep -E '^  (CC|AS|LD|OBJCOPY) ' "$1" || true; }
# boot <kernel> <qemu args...>: serial output to $W/serial.log, sets $rc and $boot_s.
boot() {
	local k=$1 t
	shift
	t=$(now)
	rc=0
	timeout "${BOOT_TIMEOUT:-20}" qemu-system-x86_64 -accel tcg -cpu max -m 64M -display none -serial stdio \
		-monitor none -no-reboot -device isa-debug-exit,iobase=0x501,iosize=2 \
		-kernel "$k" "$@" > "$W/serial.log" 2>&1 || rc=$?
	boot_s=$(elapsed "$t")
	tr -d '\r' < "$W/serial.log" > "$W/serial.txt"
}
has() { grep -qxF -- "$1" "$W/serial.txt"; }
crlf() { grep -q $'^testkernel: halt\r$' "$W/serial.log"; }

# A reproducible newc archive, parents first (what kiln must produce).
mkcpio() { # <root dir> <out>
	(cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible -R 0:0 > "$2")
}
mkdir -p "$W/root/etc"
printf 'hello from the initrd\n' > "$W/root/etc/motd"
ln -s motd "$W/root/etc/link"
CPIO=$W/initramfs-x86_64.cpio
mkcpio "$W/root" "$CPIO"

echo "== x86_64, embedded initrd"
O=$W/emb
cat > "$W/emb.defconfig" <<EOF
CONFIG_ARCH_X86_64=y
CONFIG_PLAT_KVM=y
CONFIG_KVM_VMM_QEMU=y
CONFIG_LIBVFSCORE_AUTOMOUNT_CI=y
CONFIG_LIBVFSCORE_AUTOMOUNT_CI_EINITRD=y
CONFIG_LIBVFSCORE_AUTOMOUNT_EINITRD_PATH="$CPIO"
CONFIG_APP_GREETING="first"
# CONFIG_LIBUKRANDOM is not set
EOF
mk "$O" UK_DEFCONFIG="$W/emb.defconfig" defconfig > /dev/null
check "defconfig is Kconfig syntax, sorted, keeps unknown symbols" \
	'grep -qx "# CONFIG_LIBUKRANDOM is not set" $O/.config && grep -qx "CONFIG_UK_NAME=\"hello\"" $O/.config &&
	 grep "^CONFIG_" $O/.config | LC_ALL=C sort -c'
cp "$O/.config" "$W/config.before"
mk "$O" olddefconfig > /dev/null
check "olddefconfig is idempotent" 'cmp -s $O/.config $W/config.before'

t=$(now); mk "$O" -j"$JOBS" > "$W/make.log"; cold=$(elapsed "$t")
K=$O/hello_qemu-x86_64
check "cold build makes $K and .dbg" '[ -f $K ] && [ -f $K.dbg ]'
check "bootable image is ELF32 (multiboot)" 'file $K | grep -q "ELF 32-bit"'
boot "$K" -append 'vfs.fstab=[ "initrd0:/:extract:::" ] -- hello world'
emb_boot=$boot_s
check "boot exits 83 (got $rc)" '[ $rc = 83 ]'
check "banner, cmdline, initrd, app lines" \
	'has "testkernel: hello qemu-x86_64" && has "cmdline: vfs.fstab=[ \"initrd0:/:extract:::\" ] -- hello world" &&
	 has "initrd: 100644 22 etc/motd" && has "initrd-data: etc/motd: hello from the initrd\\n" &&
	 has "initrd: 120777 4 etc/link" && has "app: hello from the test app" && has "app: greeting: first"'
check "serial lines end in CRLF" crlf

t=$(now); mk "$O" -j"$JOBS" > "$W/make.log"; noop=$(elapsed "$t")
check "no-op make runs no step" '[ -z "$(steps $W/make.log)" ]'

printf 'v2\n' > "$W/root/etc/new"
mkcpio "$W/root" "$CPIO"
t=$(now); mk "$O" -j"$JOBS" > "$W/make.log"; relink=$(elapsed "$t")
check "new cpio: only einitrd.o re-assembled, then relink" \
	'[ "$(steps $W/make.log | awk "{print \$1, \$2}" | tr "\n" " ")" = "AS kernel/kernel/einitrd.o LD hello_qemu-x86_64.dbg OBJCOPY hello_qemu-x86_64 " ]'
boot "$K"
check "new cpio is in the image" '[ $rc = 83 ] && has "initrd-data: etc/new: v2\\n"'

echo '/* edited */' >> "$APP/main.c"
mk "$O" -j"$JOBS" > "$W/make.log"
check "app .c change: only app/main.o recompiled" \
	'[ "$(steps $W/make.log | awk "{print \$1, \$2}" | tr "\n" " ")" = "CC app/main.o LD hello_qemu-x86_64.dbg OBJCOPY hello_qemu-x86_64 " ]'

sed -i 's/^CONFIG_APP_GREETING=.*/CONFIG_APP_GREETING="second"/' "$O/.config"
mk "$O" olddefconfig > /dev/null
t=$(now); mk "$O" -j"$JOBS" > "$W/make.log"; kconf=$(elapsed "$t")
nobj=$(find "$O" -name '*.o' | wc -l)
check "kconfig change rebuilds all $nobj objects" '[ "$(steps $W/make.log | grep -cE "^  (CC|AS)")" = "$nobj" ]'
boot "$K"
check "new config value seen by the app" 'has "app: greeting: second"'

boot "$K" -append 'crash'
check "crash exits 85 (got $rc)" '[ $rc = 85 ] && has "testkernel: crash"'
BOOT_TIMEOUT=3 boot "$K" -append "-- hang"
check "hang never exits (timeout: got $rc)" '[ $rc = 124 ] && ! has "testkernel: halt"'

echo "== x86_64, initrd passed with -initrd"
O=$W/ci
printf 'CONFIG_ARCH_X86_64=y\nCONFIG_PLAT_KVM=y\nCONFIG_KVM_VMM_FIRECRACKER=y\nCONFIG_LIBVFSCORE_AUTOMOUNT_CI=y\nCONFIG_LIBVFSCORE_AUTOMOUNT_CI_INITRD=y\n' > "$W/ci.defconfig"
mk "$O" UK_DEFCONFIG="$W/ci.defconfig" defconfig > /dev/null
mk "$O" -j"$JOBS" > /dev/null
check "fc plat names the image _fc-x86_64" '[ -f $O/hello_fc-x86_64 ]'
boot "$O/hello_fc-x86_64" -initrd "$CPIO" -append 'a -- b'
check "-initrd listed, exit 83 (got $rc)" \
	'[ $rc = 83 ] && has "initrd-source: module $(stat -c %s $CPIO) bytes" && has "initrd-data: etc/new: v2\\n" && has "cmdline: a -- b"'
(cd "$W/root" && find . | LC_ALL=C sort -r | cpio -o -H newc --quiet > "$W/bad.cpio")
boot "$O/hello_fc-x86_64" -initrd "$W/bad.cpio"
check "child before parent fails boot with 85 (got $rc)" '[ $rc = 85 ]'
head -c 300 "$CPIO" > "$W/trunc.cpio"
boot "$O/hello_fc-x86_64" -initrd "$W/trunc.cpio"
check "archive without TRAILER!!! fails boot with 85 (got $rc)" '[ $rc = 85 ]'

echo "== L= libraries, name from CONFIG_UK_NAME, xen naming"
mkdir -p "$W/libgreet/include" "$W/app2"
printf '#include <testkernel.h>\nvoid greet(void) { tk_puts("app: libgreet says hi\\n"); }\n' > "$W/libgreet/greet.c"
printf 'void greet(void);\n' > "$W/libgreet/include/greet.h"
printf '#include <greet.h>\nint app_main(const char *c) { (void)c; greet(); return 0; }\n' > "$W/app2/app.c"
printf 'CONFIG_ARCH_X86_64=y\nCONFIG_PLAT_XEN=y\nCONFIG_UK_NAME="fromcfg"\n' > "$W/app2.defconfig"
O=$W/app2out
L2=(-C "$TK" A="$W/app2" L="$W/libgreet" O="$O" C="$O/.config")
make --no-print-directory "${L2[@]}" UK_DEFCONFIG="$W/app2.defconfig" defconfig > /dev/null
make --no-print-directory "${L2[@]}" > /dev/null
check "image named from CONFIG_UK_NAME, plat xen" '[ -f $O/fromcfg_xen-x86_64 ] && [ -f $O/lib/libgreet/greet.o ]'
boot "$O/fromcfg_xen-x86_64"
check "library code linked and called (rc $rc)" '[ $rc = 83 ] && has "app: libgreet says hi" && has "testkernel: fromcfg xen-x86_64"'
make --no-print-directory "${L2[@]}" N=renamed > "$W/make.log"
check "N= overrides the name; only main.o recompiles" \
	'[ -f $O/renamed_xen-x86_64 ] && [ "$(steps $W/make.log | grep -cE "^  (CC|AS)")" = 1 ]'

echo "== errors"
check "missing A= is a clear error" \
	'! make --no-print-directory -C "$TK" O=$W/x 2>&1 | tee $W/err.log >/dev/null; grep -q "A= is required" $W/err.log'
printf 'CONFIG_PLAT_KVM=y\n' > "$W/noarch"
check "defconfig without arch fails" \
	'! mk $W/na UK_DEFCONFIG=$W/noarch defconfig > $W/err.log 2>&1 && grep -q "CONFIG_ARCH_X86_64" $W/err.log'
mkdir -p "$W/na" && printf 'CONFIG_PLAT_KVM=y\nCONFIG_KVM_VMM_QEMU=y\n' > "$W/na/.config"
check "build with a .config without arch fails" \
	'! mk $W/na > $W/err.log 2>&1 && grep -q "exactly one of CONFIG_ARCH_X86_64" $W/err.log'
echo 'int broken( {' >> "$APP/main.c"
check "C syntax error fails with gcc's message" \
	'! mk $W/ci > $W/err.log 2>&1 && grep -q "main.c.*error" $W/err.log'
sed -i '$d' "$APP/main.c"
check "A= gained no build files" '[ -z "$(find $APP -name "*.o" -o -name "*.d")" ]'
check "testkernel source tree untouched" '[ -z "$(find $TK -newer $W/.start)" ]'

if command -v aarch64-linux-gnu-gcc > /dev/null && command -v qemu-system-aarch64 > /dev/null; then
	echo "== arm64 (raw Linux Image, PL011, PSCI / semihosting)"
	O=$W/arm
	printf 'CONFIG_ARCH_ARM_64=y\nCONFIG_PLAT_KVM=y\nCONFIG_KVM_VMM_QEMU=y\nCONFIG_TESTKERNEL_SEMIHOSTING=y\n' > "$W/arm.defconfig"
	mk "$O" UK_DEFCONFIG="$W/arm.defconfig" defconfig > /dev/null
	t=$(now); mk "$O" -j"$JOBS" CROSS_COMPILE=aarch64-linux-gnu- > /dev/null; arm_cold=$(elapsed "$t")
	arun() {
		t=$(now); rc=0
		timeout 20 qemu-system-aarch64 -machine virt -cpu max -m 64M -display none -serial stdio \
			-monitor none -no-reboot -kernel "$O/hello_qemu-arm64" "$@" > "$W/serial.log" 2>&1 || rc=$?
		arm_boot=$(elapsed "$t"); tr -d '\r' < "$W/serial.log" > "$W/serial.txt"
	}
	arun -semihosting -initrd "$CPIO" -append 'x -- y'
	check "arm64 boot exits 83 with -semihosting (got $rc)" \
		'[ $rc = 83 ] && has "testkernel: hello qemu-arm64" && has "cmdline: x -- y" && has "initrd-data: etc/new: v2\\n"'
	arun -semihosting -append crash
	check "arm64 crash exits 85 with -semihosting (got $rc)" '[ $rc = 85 ] && has "testkernel: crash"'
	arun -append x
	check "arm64 without -semihosting exits 0 via PSCI (got $rc)" '[ $rc = 0 ] && has "testkernel: halt"'
	echo "arm64: cold build ${arm_cold}s, boot ${arm_boot}s"
fi

echo "x86_64 times: cold build ${cold}s (-j$JOBS), no-op make ${noop}s, einitrd relink ${relink}s," \
	"kconfig rebuild ${kconf}s, boot (TCG, to exit) ${emb_boot}s"
[ "$fails" = 0 ] && echo "selftest: all passed" || { echo "selftest: $fails failed"; exit 1; }
