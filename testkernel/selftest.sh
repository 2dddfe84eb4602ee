#!/bin/bash
# Self-check of the testkernel: make interface, incremental behaviour and
# booting under QEMU/TCG. Works offline; leaves the source tree untouched
# (the app is copied into a temp dir so it can be edited).
# usage: testkernel/selftest.sh        (needs gcc, make, GNU cpio, qemu-system-x86_64,
#                                       python3, git, wget, tar, patch; the zip case runs
#                                       if unzip exists; arm64 part runs if
#                                       aarch64-linux-gnu-gcc and qemu-system-aarch64 exist)
# Downloads come from a python3 http.server this script starts on 127.0.0.1 and stops.
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
boot "$K" -append 'netdev.ip=10.0.0.2/24 -- hello world'
emb_boot=$boot_s
check "boot exits 83 (got $rc)" '[ $rc = 83 ]'
check "banner, cmdline, initrd (CI_EINITRD mounts it at /), app lines" \
	'has "testkernel: hello qemu-x86_64" && has "cmdline: netdev.ip=10.0.0.2/24 -- hello world" &&
	 has "param-ignored: netdev.ip" && has "args: hello world" && has "initrd: mounted at /" &&
	 has "initrd: 100644 22 etc/motd" && has "initrd-data: etc/motd: hello from the initrd\\n" &&
	 has "initrd: 120777 4 etc/link" && has "app: hello from the test app" && has "app: greeting: first" &&
	 has "app: args: hello world"'
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
check "-initrd mounted by CI_INITRD and listed, exit 83 (got $rc)" \
	'[ $rc = 83 ] && has "initrd-source: module $(stat -c %s $CPIO) bytes" && has "initrd: mounted at /" &&
	 has "initrd-data: etc/new: v2\\n" && has "cmdline: a -- b" && has "param-ignored: a" && has "args: b"'
boot "$O/hello_fc-x86_64" -append 'b'
check "CI_INITRD without -initrd: Unikraft's CRIT line, init error -1, exit 85 (got $rc)" \
	'[ $rc = 85 ] && has "[    0.000000] CRIT: [libvfscore] <automount.c @  508> Could not find an initrd!" &&
	 has "[    0.000000] ERR:  [libukboot] <boot.c @  427> Init function at 0x0 returned error -1" && ! has "app: args: b"'
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

echo "== command line (uklibparam) and mounts (vfscore)"
EK=$W/emb/hello_qemu-x86_64
boot "$EK" -append 'vfs.fstab=[ "fs2:/data:9pfs:::mkmp" "fs3:/etc:9pfs" ] env.vars=[ "K=V" "A=B c" ] foo.bar=1 -- /bin/app "two words" z'
printf '%s\n' 'cmdline: vfs.fstab=[ "fs2:/data:9pfs:::mkmp" "fs3:/etc:9pfs" ] env.vars=[ "K=V" "A=B c" ] foo.bar=1 -- /bin/app "two words" z' \
	'fstab: fs2:/data:9pfs:::mkmp' 'fstab: fs3:/etc:9pfs' 'env: K=V' 'env: A=B c' 'param-ignored: foo.bar' \
	'args: /bin/app two words z' > "$W/want"
check "params before --: fstab/env elements in order, unknown ignored, app gets the rest (rc $rc)" \
	'[ $rc = 83 ] && sed -n "/^cmdline: /,/^args: /p" $W/serial.txt | cmp -s - $W/want && has "app: args: /bin/app two words z"'
line_of() { grep -nxF -- "$1" "$W/serial.txt" | head -1 | cut -d: -f1; }
check "9p entries after the CI initrd: mkmp creates /data, /etc exists in the initrd" \
	'has "mount: created mount point /data" && has "mount: fs2 at /data (9pfs)" && has "mount: fs3 at /etc (9pfs)" &&
	 [ "$(line_of "initrd: mounted at /")" -lt "$(line_of "mount: fs2 at /data (9pfs)")" ]'
boot "$EK" -append 'env.vars=[ A=1 B=2 ] -- x'
check "unquoted list elements" 'has "env: A=1" && has "env: B=2" && has "args: x"'
boot "$EK" -append 'vfs.fstab=[ "fs2:/nope:9pfs" ] hello'
check "no -- : nothing parsed, every word (quotes removed) goes to the app (rc $rc)" \
	'[ $rc = 83 ] && ! grep -q "^fstab: " $W/serial.txt && has "args: vfs.fstab=[ fs2:/nope:9pfs ] hello" &&
	 ! grep -q "^mount: " $W/serial.txt'
boot "$EK" -append '-- x'
check "a leading -- is no separator: the app gets it" 'has "args: -- x"'
boot "$EK" -append 'crash -- ok'
check "crash before -- is a (skipped) parameter, not an app argument (rc $rc)" '[ $rc = 83 ] && has "args: ok"'
boot "$EK" -append 'vfs.fstab=[ "fs2:/data:9pfs:::" ] -- x'
check "9p mount point missing, no mkmp: init error -1, exit 85 (got $rc)" \
	'[ $rc = 85 ] && has "mount: fs2 at /data (9pfs)" && has "mount: no mount point /data" &&
	 has "[    0.000000] ERR:  [libukboot] <boot.c @  427> Init function at 0x0 returned error -1" && ! has "app: args: x"'
boot "$EK" -append 'vfs.fstab=[ "initrd0:/:extract:::" ] -- x'
check "initrd0 extract without -initrd (einitrd is not initrd0): CRIT line, exit 85 (got $rc)" \
	'[ $rc = 85 ] && has "[    0.000000] CRIT: [libvfscore] <automount.c @  508> Could not find an initrd!" &&
	 has "[    0.000000] ERR:  [libukboot] <boot.c @  427> Init function at 0x0 returned error -1"'
boot "$EK" -append 'vfs.fstab=[ "initrd0:/:extract:::ifinitrd0" "fs1:data:9pfs" ] -- x'
check "ukopt ifinitrd0 skips; a relative mount point fails with -22 (got $rc)" \
	'[ $rc = 85 ] && ! has "[    0.000000] CRIT: [libvfscore] <automount.c @  508> Could not find an initrd!" &&
	 has "[    0.000000] ERR:  [libvfscore] <automount.c @  785> vfs.fstab: Mountpoint \"data\" is not absolute" &&
	 has "[    0.000000] ERR:  [libukboot] <boot.c @  427> Init function at 0x0 returned error -22"'
XK=$W/app2out/fromcfg_xen-x86_64 # no CI automount
boot "$XK" -initrd "$CPIO" -append 'x'
check "-initrd that nothing mounts: 'initrd: not mounted', no listing (rc $rc)" \
	'[ $rc = 83 ] && has "initrd-source: module $(stat -c %s $CPIO) bytes" && has "initrd: not mounted" &&
	 ! grep -q "^initrd: [0-7]" $W/serial.txt'
boot "$XK" -initrd "$CPIO" -append 'vfs.fstab=[ "initrd0:/srv:extract:::" ] -- x'
check "an fstab extract entry mounts -initrd at its mount point" \
	'[ $rc = 83 ] && has "initrd: mounted at /srv" && has "initrd-data: etc/new: v2\\n" && ! has "initrd: not mounted"'

echo "== ukrandom (CONFIG_LIBUKRANDOM=y) under TCG"
check "Config.defaults leaves LIBUKRANDOM off" 'grep -qx "# CONFIG_LIBUKRANDOM is not set" $W/ci/.config'
printf 'CONFIG_ARCH_X86_64=y\nCONFIG_PLAT_KVM=y\nCONFIG_KVM_VMM_QEMU=y\nCONFIG_LIBUKRANDOM=y\n' > "$W/rnd.defconfig"
mk "$W/rnd" UK_DEFCONFIG="$W/rnd.defconfig" defconfig > /dev/null
mk "$W/rnd" -j"$JOBS" > /dev/null
boot "$W/rnd/hello_qemu-x86_64" -append 'x'
check "no RDSEED: Unikraft's HWRNG error, init error -95, exit 85 before the app (got $rc)" \
	'[ $rc = 85 ] && has "[    0.000000] ERR:  [libukrandom] <random.c @   65> Could not initialize the HWRNG (-95)" &&
	 has "[    0.000000] ERR:  [libukboot] <boot.c @  427> Init function at 0x0 returned error -95" &&
	 ! grep -q "^app: " $W/serial.txt'

echo "== L= libraries with a Makefile.uk: fetch (checksum, patch) and clone, offline"
F=$W/fetch
# Only the local server and repository: no proxy, no user or system git/wget configuration.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY
mkdir -p "$F/www" "$F/src/foo-1.0" "$F/pp/a" "$F/pp/b" "$F/libx/patches" "$F/liby" "$F/repo" "$F/app"
: > "$F/wgetrc"
export no_proxy=127.0.0.1 WGETRC=$F/wgetrc GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
printf '#include <testkernel.h>\nvoid foo_hello(void) { tk_puts("app: foo from the tarball\\n"); }\n' > "$F/src/foo-1.0/foo.c"
(cd "$F/src" && tar --sort=name --mtime=@0 --owner=0 --group=0 -czf "$F/www/foo-1.0.tar.gz" foo-1.0)
cp "$F/src/foo-1.0/foo.c" "$F/pp/a/foo.c"
sed 's/from the tarball/from the tarball, patched/' "$F/src/foo-1.0/foo.c" > "$F/pp/b/foo.c"
(cd "$F/pp" && diff -u a/foo.c b/foo.c > "$F/libx/patches/0001-patched.patch") || true
SUM=$(sha256sum "$F/www/foo-1.0.tar.gz" | cut -d' ' -f1)
git -C "$F/repo" -c init.defaultBranch=main init -q
printf '#include <testkernel.h>\nvoid bar_hello(void) { tk_puts("app: bar from the git clone\\n"); }\n' > "$F/repo/bar.c"
git -C "$F/repo" add bar.c
git -C "$F/repo" -c user.name=t -c user.email=t@t commit -qm bar
git -C "$F/repo" tag v1.0
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$F/www" && exec python3 -m http.server --bind 127.0.0.1 "$PORT") > "$F/http.log" 2>&1 &
HTTP_PID=$!
trap 'kill $HTTP_PID 2> /dev/null || true; [ -n "${KEEP:-}" ] && echo "kept $W" || rm -rf "$W"' EXIT
for _ in $(seq 100); do (exec 3<> "/dev/tcp/127.0.0.1/$PORT") 2> /dev/null && break; sleep 0.05; done
URL=http://127.0.0.1:$PORT/foo-1.0.tar.gz
{
	echo '$(eval $(call addlib,libx))'
	echo 'LIBX_VERSION = 1.0'
	echo "LIBX_ORIGIN_SHA256 = $SUM"
	echo "\$(eval \$(call fetch,libx,http://127.0.0.1:$PORT/foo-\$(LIBX_VERSION).tar.gz))"
	echo '$(eval $(call patch,libx,$(LIBX_BASE)/patches,foo-$(LIBX_VERSION)))'
	echo 'LIBX_SRCS-y += $(LIBX_ORIGIN)/foo-$(LIBX_VERSION)/foo.c'
} > "$F/libx/Makefile.uk"
printf 'void foo_hello(void);\nvoid libx_run(void) { foo_hello(); }\n' > "$F/libx/glue.c"
{
	echo '$(eval $(call addlib,liby))'
	echo "\$(eval \$(call clone,liby,file://$F/repo,v1.0))"
	echo 'LIBY_SRCS-y += $(LIBY_ORIGIN)/bar.c'
} > "$F/liby/Makefile.uk"
printf 'void bar_hello(void);\nvoid liby_run(void) { bar_hello(); }\n' > "$F/liby/glue.c"
printf 'void libx_run(void);\nvoid liby_run(void);\nint app_main(const char *a) { (void)a; libx_run(); liby_run(); return 0; }\n' > "$F/app/main.c"
printf 'CONFIG_ARCH_X86_64=y\nCONFIG_PLAT_KVM=y\nCONFIG_KVM_VMM_QEMU=y\n' > "$F/defconfig"
O=$F/out
fmk() { make --no-print-directory -C "$TK" A="$F/app" L="$F/libx:$F/liby" O="$O" C="$O/.config" N=f "$@"; }
gets() { grep -c '"GET /foo-1.0.tar.gz' "$F/http.log" || true; }
fmk UK_DEFCONFIG="$F/defconfig" defconfig > /dev/null
check "O= gets Unikraft's link O/Makefile to the core's Makefile (the sub-make's)" \
	'[ "$(readlink $O/Makefile)" = "$TK/Makefile" ]'
mkdir -p "$F/fresh"
cp "$O/.config" "$F/fresh/.config"
check "make -n in a fresh O= fails as Unikraft's does: the sub-make has no O/Makefile" \
	'! fmk O="$F/fresh" C="$F/fresh/.config" -n fetch > "$F/fresh.log" 2>&1 &&
	 grep -q "fresh/Makefile" "$F/fresh.log"'
fmk -n fetch > "$F/dry.log"
check "make -n fetch prints the wget and git command lines verbatim, downloads nothing" \
	'grep -qF "wget -q --show-progress --progress=bar -O $O/libx/foo-1.0.tar.gz $URL || rm -f $O/libx/foo-1.0.tar.gz" $F/dry.log &&
	 grep -qF "git clone --recurse-submodules -q --progress --depth 1 --branch v1.0 --no-tags file://$F/repo $O/liby/origin/" $F/dry.log &&
	 [ "$(gets)" = 0 ] && [ ! -e $O/libx/foo-1.0.tar.gz ]'
t=$(now); fmk -j"$JOBS" > "$F/make.log" 2>&1 || true; fetch_cold=$(elapsed "$t")
check "build fetches first: WGET, SHA256, UNTAR, PATCH and GIT steps" \
	'(for s in "WGET    libx: $URL" "SHA256  libx: foo-1.0.tar.gz" "UNTAR   libx: foo-1.0.tar.gz" \
	          "PATCH   libx: 0001-patched.patch" "GIT     liby"; do grep -qxF -- "  $s" $F/make.log || exit 1; done)'
check "stamps .chksum .origin .patched; objects O/lib/libx/foo.o and O/lib/liby/bar.o" \
	'[ -f $O/libx/.chksum ] && [ -f $O/libx/.origin ] && [ -f $O/libx/.patched ] && [ -f $O/liby/.origin ] &&
	 [ -f $O/lib/libx/foo.o ] && [ -f $O/lib/libx/glue.o ] && [ -f $O/lib/liby/bar.o ] && [ -f $O/lib/liby/glue.o ]'
boot "$O/f_qemu-x86_64"
check "code from the patched tarball and from the clone ran (rc $rc)" \
	'[ $rc = 83 ] && has "app: foo from the tarball, patched" && has "app: bar from the git clone"'
t=$(now); fmk -j"$JOBS" > "$F/make.log" 2>&1 || true; fetch_noop=$(elapsed "$t")
check "second make: no step, no second download ($(gets) request)" '[ ! -s $F/make.log ] && [ "$(gets)" = 1 ]'
fmk -n fetch > "$F/dry.log" 2>&1 || true
check "make -n fetch after the fetch: nothing left to download" '! grep -q "wget\|git clone" $F/dry.log'
printf '#!/bin/sh\necho "$*" >> %s/wget.args\nexec wget "$@"\n' "$F" > "$F/mywget"
chmod +x "$F/mywget"
fmk O="$F/out2" C="$F/out2/.config" UK_DEFCONFIG="$F/defconfig" defconfig > /dev/null
fmk O="$F/out2" C="$F/out2/.config" WGET="$F/mywget" fetch > /dev/null 2>&1 || true
check "WGET= on make's command line replaces wget; it gets Unikraft's arguments" \
	'[ "$(cat $F/wget.args)" = "-q --show-progress --progress=bar -O $F/out2/libx/foo-1.0.tar.gz $URL" ] &&
	 [ -d $F/out2/libx/origin/foo-1.0 ] && [ -f $F/out2/liby/.origin ] && [ ! -e $F/out2/f_qemu-x86_64 ]'
sed -i "s/^LIBX_ORIGIN_SHA256 = .*/LIBX_ORIGIN_SHA256 = $(printf '%064d' 0)/" "$F/libx/Makefile.uk"
fmk O="$F/bad" C="$F/bad/.config" UK_DEFCONFIG="$F/defconfig" defconfig > /dev/null
check "wrong LIBX_ORIGIN_SHA256 fails the build with Unikraft's message" \
	'! fmk O=$F/bad C=$F/bad/.config -j$JOBS > $F/bad.log 2>&1 &&
	 grep -qxF "$F/bad/libx/foo-1.0.tar.gz: SHA256 checksum validation failed" $F/bad.log &&
	 [ ! -e $F/bad/libx/.chksum ] && [ ! -e $F/bad/f_qemu-x86_64 ]'
if command -v unzip > /dev/null; then
	mkdir -p "$F/zsrc/z-2" "$F/libz"
	printf '#include <testkernel.h>\nvoid foo_hello(void) { tk_puts("app: foo from the zip\\n"); }\n' > "$F/zsrc/z-2/z.c"
	(cd "$F/zsrc" && python3 -m zipfile -c "$F/www/z-2.zip" z-2)
	{
		echo '$(eval $(call addlib_s,libz,$(CONFIG_LIBZ)))'
		echo "\$(eval \$(call fetchas2,libz,http://127.0.0.1:$PORT/missing.zip,http://127.0.0.1:$PORT/z-2.zip,z.zip))"
		echo 'LIBZ_SRCS-y += $(LIBZ_ORIGIN)/z-2/z.c'
	} > "$F/libz/Makefile.uk"
	printf 'CONFIG_LIBZ=y\n' | cat "$F/defconfig" - > "$F/z.defconfig"
	printf 'void foo_hello(void);\nvoid liby_run(void);\nint app_main(const char *a) { (void)a; foo_hello(); liby_run(); return 0; }\n' > "$F/app/main.c"
	zmk() { make --no-print-directory -C "$TK" A="$F/app" L="$F/libz:$F/liby" O="$F/z" C="$F/z/.config" N=f "$@"; }
	zmk UK_DEFCONFIG="$F/z.defconfig" defconfig > /dev/null
	zmk -j"$JOBS" > "$F/z.log" 2>&1 || true
	boot "$F/z/f_qemu-x86_64"
	check "fetchas2 falls back to its second URL, a .zip is unzipped, addlib_s with CONFIG_LIBZ=y (rc $rc)" \
		'[ $rc = 83 ] && has "app: foo from the zip" && grep -q "\"GET /missing.zip HTTP/1.1\" 404" $F/http.log &&
		 [ -f $F/z/lib/libz/z.o ]'
fi
kill "$HTTP_PID" 2> /dev/null || true
wait "$HTTP_PID" 2> /dev/null || true

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
	printf 'CONFIG_ARCH_ARM_64=y\nCONFIG_PLAT_KVM=y\nCONFIG_KVM_VMM_QEMU=y\nCONFIG_TESTKERNEL_SEMIHOSTING=y\nCONFIG_LIBUKRANDOM=y\n' > "$W/arm.defconfig"
	mk "$O" UK_DEFCONFIG="$W/arm.defconfig" defconfig > /dev/null
	t=$(now); mk "$O" -j"$JOBS" CROSS_COMPILE=aarch64-linux-gnu- > /dev/null; arm_cold=$(elapsed "$t")
	arun() {
		t=$(now); rc=0
		timeout 20 qemu-system-aarch64 -machine virt -cpu "${ACPU:-max}" -m 64M -display none -serial stdio \
			-monitor none -no-reboot -kernel "$O/hello_qemu-arm64" "$@" > "$W/serial.log" 2>&1 || rc=$?
		arm_boot=$(elapsed "$t"); tr -d '\r' < "$W/serial.log" > "$W/serial.txt"
	}
	arun -semihosting -initrd "$CPIO" -append 'vfs.fstab=[ "initrd0:/:extract:::" ] -- y'
	check "arm64 boot exits 83 with -semihosting, fstab mounts -initrd (got $rc)" \
		'[ $rc = 83 ] && has "testkernel: hello qemu-arm64" && has "args: y" && has "initrd: mounted at /" &&
		 has "initrd-data: etc/new: v2\\n" && ! grep -q HWRNG $W/serial.txt'
	ACPU=cortex-a57 arun -semihosting -append 'y'
	check "arm64 LIBUKRANDOM without RNDR: Unikraft's ERR line (1), boot goes on (got $rc)" \
		'[ $rc = 83 ] && has "[    0.000000] ERR:  [libukrandom] <random.c @   65> Could not initialize the HWRNG (1)" &&
		 has "app: args: y"'
	arun -semihosting -append crash
	check "arm64 crash exits 85 with -semihosting (got $rc)" '[ $rc = 85 ] && has "testkernel: crash"'
	arun -append x
	check "arm64 without -semihosting exits 0 via PSCI (got $rc)" '[ $rc = 0 ] && has "testkernel: halt"'
	echo "arm64: cold build ${arm_cold}s, boot ${arm_boot}s"
fi

echo "x86_64 times: cold build ${cold}s (-j$JOBS), no-op make ${noop}s, einitrd relink ${relink}s," \
	"kconfig rebuild ${kconf}s, boot (TCG, to exit) ${emb_boot}s"
echo "fetch: cold build with a download, a patch and a clone ${fetch_cold}s, no-op make ${fetch_noop}s"
[ "$fails" = 0 ] && echo "selftest: all passed" || { echo "selftest: $fails failed"; exit 1; }
