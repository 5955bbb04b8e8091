#!/bin/bash
# Install the Debian packages that building, testing and demoing sandlock-runtime need: on a fresh
# Debian 12 machine everything `make test` uses (it fails, not skips, on a missing tool:
# SANDLOCK_REQUIRE=all). Only missing packages are installed; `apt-get update` runs once, and only
# if something is missing; recommends are not relied on (minimal images turn them off).
# Idempotent. Needs root (or sudo) when something is missing.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

PKGS=(
  gcc libc6-dev make pkg-config git  # cgo toolchain (build-essential minus g++/dpkg-dev); libc6-dev has
                                     # the static libc.a the escape programs link (gcc -static)
  ca-certificates                    # the Go module proxy over https (go mod download, staticcheck, crictl)
  util-linux coreutils               # setpriv, unshare, sleep (integration/)
  libseccomp-dev                     # cgo: libseccomp-golang
  busybox-static jq                  # test bundles (hack/mkbundle.sh, integration/)
  runc crun containerd podman conmon # peer runtimes and real clients (integration/, bench)
  containernetworking-plugins netavark # podman's network stack (a podman recommend)
  catatonit                          # podman --init (integration/podman_test.go)
  umoci skopeo                       # OCI image built from the busybox rootfs (containerd tests)
  hyperfine bubblewrap strace        # benchmarks and debugging
  dbus-daemon                        # a private bus for the systemd driver's D-Bus test (lifecycle/)
  criu                               # only answers podman's version check (docs/checkpoint.md)
  python3 redis-server curl          # workloads of the checkpoint tests and the docs' examples
  sqlite3 perl                       # workloads of the copy-on-write tests
  musl-tools                         # musl-gcc: the musl build of the time_start test program
)

missing=()
for p in "${PKGS[@]}"; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-deps: missing ${missing[*]} and not root (no sudo)" >&2; exit 1; }
    SUDO=sudo
  fi
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  if ! $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null; then
    # one by one, so that a single unavailable package doesn't block the rest
    failed=()
    for p in "${missing[@]}"; do $SUDO apt-get install -y -qq "$p" >/dev/null || failed+=("$p"); done
    if [ ${#failed[@]} -gt 0 ]; then echo "install-deps: FAILED to install: ${failed[*]}" >&2; exit 1; fi
  fi
fi

if ! command -v go >/dev/null 2>&1; then
  echo "install-deps: Go (see go.mod for the version) is not on PATH; /usr/local/go/bin is the usual place" >&2
  exit 1
fi

# The escape programs and probes are linked statically: a gcc without libc.a would only show up
# as failing tests, so say it here.
if ! echo 'int main(void){return 0;}' | gcc -static -x c -o /dev/null - 2>/dev/null; then
  echo "install-deps: gcc -static cannot link (libc6-dev's libc.a missing?)" >&2
  exit 1
fi
