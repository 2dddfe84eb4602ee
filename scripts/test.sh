#!/usr/bin/env bash
# kiln's whole test suite, for a fresh Debian machine with Rust: installs the system tools the
# tests use when they are missing (as root, with apt-get), then runs formatting, lint and every
# test of every crate. CI runs exactly this (see .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests need, as "command:package": GNU cpio reads kiln's archives back;
# make, gcc and binutils build the test kernel (testkernel/), the cross compiler its arm64
# build, QEMU boots both; flex and bison are checked for as Unikraft's kconfig needs them;
# git serves kernel sources from repositories made by the tests; unshare (util-linux) makes
# a read-only mount for the read-only cache test; docker-registry (distribution 2.8) serves
# packages on loopback, htpasswd (apache2-utils) and openssl make its users and certificates,
# and skopeo and umoci read kiln's packages as independent OCI clients; buildah is the
# builder of Dockerfile RUN and the reference the Dockerfile tests compare with, and
# busybox-static the one binary of the base images they make (it must be static); nginx
# (its WebDAV module) is the Bazel HTTP remote cache the remote-cache tests start on loopback;
# python3-venv makes the virtualenv that holds BuildGrid, their REAPI server; icecc
# (icecream: iceccd, icecc-scheduler) runs the distributed-compile tests' daemons on loopback.
needs=(cpio:cpio make:make gcc:gcc ld:binutils git:git flock:util-linux unshare:util-linux
  flex:flex bison:bison
  docker-registry:docker-registry htpasswd:apache2-utils openssl:openssl skopeo:skopeo umoci:umoci
  buildah:buildah curl:curl nginx:nginx iceccd:icecc
  aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu
  qemu-system-x86_64:qemu-system-x86 qemu-system-aarch64:qemu-system-arm)
missing=()
for pair in "${needs[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
# A dynamically linked /bin/busybox (Debian's `busybox`) cannot run in a FROM scratch stage.
if ! [ -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then
  missing+=(busybox-static)
fi
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/test.sh: missing ${missing[*]}; install them (sudo apt-get install ${missing[*]}) or run as root" >&2
    exit 1
  fi
  echo "scripts/test.sh: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# BuildGrid (PyPI), a real REAPI server for tests/remote_reapi.rs, in a virtualenv made here.
venv=target/test-venv
if ! [ -x "$venv/bin/bgd" ]; then
  echo "scripts/test.sh: installing BuildGrid into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'buildgrid==0.4.4'
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
bash testkernel/selftest.sh
cargo test --workspace --all-targets --locked
