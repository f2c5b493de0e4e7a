#!/usr/bin/env bash
# Measures time-to-init of our VMM against QEMU (-M microvm and -M pc, both with KVM) on the
# same kernel, initrd and command line, in the same KVM test host run (tests/testhost/run), so
# that the numbers are comparable. See docs/boot.md.
#
# Usage: tests/boot/measure_boot.sh [--runs N] [--smp N] [--initrd FILE --marker TEXT] [VMM_BINARY]
#   VMM_BINARY defaults to bazel-bin/vmm/vmm (build it first: bazel build //vmm:vmm).
#   --initrd/--marker: boot another initramfs (on a host path outside /tmp) and stop the clock at
#   the first console line containing TEXT; its /init must end by writing to port 0xf4.
# Time-to-init is the wall time from starting the VMM process to the guest console line
# "kvmm-init: started" (printed by the guest's /init first thing), read from the serial output
# by this script, the same way for every VMM. Our VMM's own "guest init reached" report (boot
# marker port 0x3f0) and the total run time are shown as well.
# The first nested guest boot in a fresh test host VM is much faster than later ones (for QEMU
# too: its initramfs unpacking takes ~2 s instead of ~13 s), so one discarded warm-up boot runs
# first and the VMMs are interleaved run by run.
set -uo pipefail

runs=3 smp=1 initrd= marker="kvmm-init: started"
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --smp) smp=$2; shift 2 ;;
    --initrd) initrd=$(readlink -f "$2"); shift 2 ;;
    --marker) marker=$2; shift 2 ;;
    --inner) shift; inner=1 ;;
    *) break ;;
  esac
done
here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
repo=$(cd "$here/../.." && pwd)

if [ -z "${inner:-}" ]; then
  vmm=$(readlink -f "${1:-$repo/bazel-bin/vmm/vmm}")
  [ -x "$vmm" ] || { echo "measure_boot: no VMM binary at '$vmm'" >&2; exit 1; }
  image=$("$repo/guest/build-image.sh" | tail -1) || exit 1
  exec "$repo/tests/testhost/run" --timeout 3000 -- "$here/measure_boot.sh" --inner \
    --runs "$runs" --smp "$smp" --marker "$marker" ${initrd:+--initrd "$initrd"} "$vmm" "$image"
fi

# ---- inside the test host
vmm=$1 image=$2
initrd=${initrd:-$image/initrd.img}
append="console=ttyS0 quiet plan=boot reboot=k panic=-1"
common=(-m 1G -smp "$smp" -kernel "$image/vmlinuz" -initrd "$initrd" -append "$append")
qemu_common=(qemu-system-x86_64 -enable-kvm -cpu host -nographic -no-reboot -net none
             -device isa-debug-exit,iobase=0xf4,iosize=1 "${common[@]}")

# Runs "$@", prints "init_ms total_ms" from the console line timing; the console goes to a log.
measure() {
  local t0 line init_ms=- now
  t0=$EPOCHREALTIME
  while IFS= read -r line; do
    if [ "$init_ms" = - ] && [[ $line == *"$marker"* ]]; then
      now=$EPOCHREALTIME
      init_ms=$(( (${now/./} - ${t0/./}) / 1000 ))
    fi
    printf '%s\n' "$line" >> "$log"
  done < <("$@" < /dev/null 2>&1)
  now=$EPOCHREALTIME
  echo "$init_ms $(( (${now/./} - ${t0/./}) / 1000 ))"
}

log=$(mktemp)
echo "kernel: $(basename "$(readlink -f "$image/vmlinuz")") $(stat -c %s "$image/vmlinuz") bytes," \
     "initrd: $initrd $(stat -c %s "$initrd") bytes, -m 1G -smp $smp, append: $append," \
     "clock stops at: '$marker'"
echo "qemu: $(qemu-system-x86_64 --version | head -1)"
: > "$log"
echo "warm-up (discarded): $(measure "$vmm" "${common[@]}")"
printf '%-14s %4s %14s %14s %14s\n' vmm run "init-ms" "total-ms" "marker-ms"
for run in $(seq 1 "$runs"); do
  for which in vmm qemu-microvm qemu-pc; do
    : > "$log"
    case $which in
      vmm) r=$(measure "$vmm" "${common[@]}") ;;
      qemu-microvm) r=$(measure "${qemu_common[@]}" -M microvm) ;;
      qemu-pc) r=$(measure "${qemu_common[@]}" -M pc) ;;
    esac
    marker_ms=$(sed -n 's/^vmm: guest init reached after \([0-9]*\) ms.*/\1/p' "$log" | head -1)
    if [ "$marker" = "kvmm-init: started" ] && ! grep -q '^PLAN-DONE boot 1 passed' "$log"; then
      echo "($which run $run did not pass the boot plan:)"; tail -5 "$log"
    fi
    printf '%-14s %4s %14s %14s %14s\n' "$which" "$run" ${r} "${marker_ms:--}"
  done
done
rm -f "$log"
