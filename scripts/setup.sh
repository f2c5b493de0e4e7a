#!/usr/bin/env bash
# Installs every Debian 12 package the project needs (build, tests, guest image, KVM test host).
# Idempotent: when everything is installed it only says so. Both README commands call it.
# Only bookworm packages are installed into the system; the guest's trixie packages are unpacked
# into a private cache by guest/build-image.sh, never installed.
set -euo pipefail

packages=(
  # build (Bazel offline, C++20, system libraries)
  bazel-bootstrap g++ python3 linux-libc-dev
  liburing-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev acpica-tools
  # fuzzing (scripts/fuzz.sh): clang, lld, libFuzzer + sanitizer runtimes, llvm-symbolizer
  clang-14 lld-14 libclang-rt-14-dev llvm-14
  # guest image builder: apt-get download + dpkg -x, initramfs packing
  apt dpkg ca-certificates cpio gzip xz-utils zstd busybox-static
  # guest image: optional blktests / zonefs-tools checkouts are built on the host
  make autoconf automake libtool pkg-config libblkid-dev uuid-dev lz4
  # KVM test host: QEMU TCG machine with emulated AMD SVM
  qemu-system-x86
  fio gnuplot-nox
)

missing=()
for p in "${packages[@]}"; do
  # dpkg-query prints "install ok installed" only for a fully installed package
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  sudo=sudo
else
  sudo=
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
