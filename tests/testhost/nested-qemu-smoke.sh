#!/usr/bin/env bash
# Nested-guest smoke test: inside the test host (tests/testhost/run), QEMU with -enable-kvm boots
# Debian's stock trixie kernel (the same one the outer VM runs) with a tiny busybox initramfs whose
# /init prints a marker and powers off. Proves that /dev/kvm there can boot an unmodified Linux
# guest, and reports the times: outer VM boot (until the command starts), nested QEMU start to the
# guest's /init, and the whole run.
# Usage: tests/testhost/nested-qemu-smoke.sh [--smp N] [--mem SIZE]   (passed to the launcher)
# Exit: 0 when the marker came back; the launcher's status otherwise (124 timeout, 125 infra).
set -uo pipefail

self=$(readlink -f "${BASH_SOURCE[0]}")
here=$(dirname "$self")
repo=$(cd "$here/../.." && pwd)
run="$here/run"
busybox=$(command -v busybox) || { echo "nested-qemu-smoke: busybox not found" >&2; exit 125; }

. "$repo/scripts/lib/kvmm-cache.sh"  # the same cache as the launcher's
if [ -n "${TESTHOST_KERNEL_ROOT:-}" ]; then
  kroot=$TESTHOST_KERNEL_ROOT
else
  kroot=$("$repo/guest/fetch-kernel.sh" | tail -1) || { echo "nested-qemu-smoke: fetch-kernel failed" >&2; exit 125; }
fi
vmlinuz=$(ls "$kroot"/boot/vmlinuz-* | head -1)

# Work dir must not be under /tmp: the test host mounts a fresh tmpfs there.
base=${TEST_TMPDIR:-/var/tmp}
work=$(mktemp -d "$base/nested-smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root/bin"
cp "$busybox" "$work/root/bin/busybox"
cat > "$work/root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox mkdir -p /proc
/bin/busybox mount -t proc proc /proc
echo "NESTED-GUEST-INIT: $(/bin/busybox uname -sr), guest uptime $(/bin/busybox cut -d' ' -f1 /proc/uptime) s"
/bin/busybox poweroff -f
INIT
chmod 755 "$work/root/init"
(cd "$work/root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd.gz"

inner='
  echo "outer VM: command started at outer-guest uptime $(cut -d" " -f1 /proc/uptime) s"
  grep -qw svm /proc/cpuinfo && echo "outer VM: cpu has svm"
  ls -l /dev/kvm
  start=$(date +%s%N)
  timeout 600 qemu-system-x86_64 -enable-kvm -cpu host -machine microvm -m 512M -smp 2 \
      -nodefaults -no-reboot -display none -serial stdio \
      -kernel "$1" -initrd "$2" \
      -append "console=ttyS0 quiet loglevel=3 panic=-1" < /dev/null 2>&1 |
    while IFS= read -r line; do
      ms=$(( ($(date +%s%N) - start) / 1000000 ))
      printf "[nested +%d.%03ds] %s\n" $((ms / 1000)) $((ms % 1000)) "$line"
    done
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  printf "nested QEMU exited after %d.%03d s\n" $((ms / 1000)) $((ms % 1000))'

t0=$(date +%s%N)
"$run" --timeout 900 "$@" -- bash -c "$inner" nested "$vmlinuz" "$work/initrd.gz" | tee "$work/log"
rc=${PIPESTATUS[0]}
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
printf "nested-qemu-smoke: whole run %d.%03d s (launcher exit %d)\n" $((ms / 1000)) $((ms % 1000)) "$rc"
[ "$rc" = 0 ] || exit "$rc"
if grep -q 'NESTED-GUEST-INIT' "$work/log"; then
  echo "nested-qemu-smoke: PASS (nested Linux guest reached /init under /dev/kvm)"
  exit 0
fi
echo "nested-qemu-smoke: FAIL (no marker from the nested guest)"
exit 1
