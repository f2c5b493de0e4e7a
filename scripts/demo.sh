#!/usr/bin/env bash
# The README's first command: the main job end to end on a Debian 12 machine.
# Installs what is missing, builds the VMM, builds (or reuses) the guest image, boots the stock
# Debian Linux guest through the KVM test host (directly on hardware KVM, else in a TCG VM with a
# nested /dev/kvm), runs a short in-guest workload and prints what happened.
set -euo pipefail
cd "$(dirname "$0")/.."
export KVMM_CACHE=${KVMM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvmm}
say() { printf '\n== %s\n' "$*"; }

say "setup: Debian packages"
scripts/setup.sh

say "build: bazel build //vmm:vmm"
bazel build //vmm:vmm
vmm=$(bazel info bazel-bin 2>/dev/null)/vmm/vmm

say "guest image: kernel + initramfs from Debian packages"
image=$(guest/build-image.sh | tail -n 1)
echo "guest image: $image"

work=$(mktemp -d "${TMPDIR:-/var/tmp}/kvmm-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT

args=(-m 1G -smp 2 -kernel "$image/vmlinuz" -initrd "$image/initrd.img")
plan=boot
# Disks are attached only for the device models that exist; the rest is reported, not faked.
missing=()
if "$vmm" --help 2>&1 | grep -q -- '-drive'; then
  truncate -s 256M "$work/virtio.img" "$work/ahci.img" "$work/ide.img"
  truncate -s 512M "$work/zoned.img"
  plan=boot,fio,zoned
  for spec in "virtio.img,if=virtio,cache=none" "zoned.img,if=virtio,zoned=on,cache=none" \
              "ahci.img,if=ahci,cache=writeback" "ide.img,if=ide,cache=writethrough"; do
    args+=(-drive "file=$work/$spec,format=raw")
  done
else
  missing+=("virtio-blk, zoned virtio-blk, AHCI and IDE disks (-drive) are not implemented yet")
fi
args+=(-append "console=ttyS0 quiet reboot=k panic=-1 plan=$plan")

say "boot: $vmm ${args[*]}"
set +e
tests/testhost/run --timeout 900 -- "$vmm" "${args[@]}" 2>&1 | tee "$work/console.log"
rc=${PIPESTATUS[0]}
set -e

say "summary"
grep -E '^(RESULT|PLAN-DONE) ' "$work/console.log" || echo "no result lines from the guest"
grep -E 'guest init reached' "$work/console.log" || true
for m in "${missing[@]}"; do echo "not yet: $m"; done
echo "vmm exit status: $rc (the guest's own status: 0 = every check passed)"
exit "$rc"
