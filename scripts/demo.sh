#!/usr/bin/env bash
# The README's first command: the main job end to end on a Debian 12 machine.
# Installs what is missing, builds the VMM, builds (or reuses) the guest image, boots the stock
# Debian Linux guest through the KVM test host (directly on hardware KVM, else in a TCG VM with a
# nested /dev/kvm), runs a short in-guest workload and prints what happened.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/kvmm-cache.sh
start=$SECONDS
say() { printf '\n== [%dm%02ds] %s\n' $(( (SECONDS - start) / 60 )) $(( (SECONDS - start) % 60 )) "$*"; }

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

# Runs where /dev/kvm can boot Linux (inside the test host on machines without hardware KVM).
# Disk images are made there, in its /tmp; the VMM's console and status come back.
inner='
set -u
vmm=$1 image=$2; d=$(mktemp -d /tmp/kvmm-demo.XXXXXX)
truncate -s 256M "$d/virtio.img" "$d/ahci.img" "$d/ide.img"
truncate -s 512M "$d/zoned.img"
echo "demo: disks: vda virtio-blk cache=none, vdb zoned virtio-blk (emulated on a plain file),"
echo "demo:        sda AHCI cache=writeback, sdb IDE cache=writethrough"
# The guard stops a guest that prints no progress line for 300 s (the VMM then dumps its state).
tests/boot/lib/progress_guard.sh 300 "^[A-Za-z]" \
"$vmm" -m 1G -smp 2 -nographic -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
  -drive "file=$d/virtio.img,if=virtio,format=raw,cache=none" \
  -drive "file=$d/zoned.img,if=virtio,format=raw,cache=none,zoned=on" \
  -drive "file=$d/ahci.img,if=ahci,format=raw,cache=writeback" \
  -drive "file=$d/ide.img,if=ide,format=raw,cache=writethrough" \
  -append "console=ttyS0 quiet reboot=k panic=-1 plan=boot,fio,zoned fio_size=8M" < /dev/null
rc=$?
echo "demo: zoned metadata on the host side: $(ls -s "$d"/zoned.img.zones 2>/dev/null || echo none)"
echo "demo: allocated KiB per image: $(du -k "$d"/*.img | tr "\n" " ")"
exit $rc
'
say "boot: stock Debian guest with virtio-blk, zoned virtio-blk, AHCI and IDE disks"
set +e
# Up to three boots: the nested TCG test host sometimes kills the guest or dies itself
# (docs/test-host.md, "Limitations"; on 2026-11-21 two demo runs in a row lost a boot that way).
for attempt in 1 2 3; do
  # sed -u: the console must reach the terminal as it comes (tr would hold it in its buffer
  # until the end, so a stuck guest looked silent).
  tests/testhost/run --timeout 1200 -- bash -c "$inner" demo "$vmm" "$image" 2>&1 | sed -u 's/\r//g' |
    tee "$work/console.log"
  rc=${PIPESTATUS[0]}
  grep -qx 'KVMM-EXIT [0-9]*' "$work/console.log" && break
  [ "$attempt" -lt 3 ] && say "the guest did not finish (exit line above); booting once more"
done
set -e

say "summary"
grep -E '^(RESULT|PLAN-DONE) ' "$work/console.log" || echo "no result lines from the guest"
grep -E 'guest init reached' "$work/console.log" || true
cat <<'TXT'
not in this demo: blktests / zonefs-tests (they need checkouts: docs/guest-suites-results.md),
  the crash-consistency test and the fuzzers (scripts/test.sh runs them), benchmarks against
  QEMU (bench/compare.sh, docs/benchmarks.md).
TXT
# The VMM's status is the guest's own (test-exit port) unless the guest ended otherwise (a reset
# or triple fault also exits 0, as QEMU -no-reboot does): judge by the guest's last word.
if [ "$rc" -eq 0 ] && ! grep -qx 'KVMM-EXIT 0' "$work/console.log"; then
  echo "demo: the guest did not finish its plans (see the VMM's exit line above)"
  rc=1
fi
echo "demo status: $rc (0 = the guest ran every plan and every check passed)"
exit "$rc"
