#!/usr/bin/env bash
# Stability campaign for the nested TCG test host (docs/test-host.md, "Stability"): boots the
# demo's four-disk machine HOSTS times, each in a fresh test host, and has the guest repeat one
# fio job (plan=fioloop) RUNS times; then says, per boot, how far the guest got and how it ended.
# The outer configuration comes from the launcher's TESTHOST_* variables (QEMU binary, -cpu,
# module parameters), so two configurations are compared by running this twice.
#
#   tests/testhost/stability.sh [--hosts N] [--runs N] [--smp N] [--job NAME] [--disks LIST]
#                               [--inner vmm|qemu] [--label TEXT] VMM_BINARY GUEST_IMAGE_DIR
# Prints one "STABILITY <label> host=<i> runs=<done>/<asked> end=<how>" line per boot and a total
# line; "end" is clean, triple-fault, guest-stall (no progress for 180 s; the VMM's state dump is
# in the log), rcu-stall, oops, outer-kernel, testhost-<status>. Logs stay under $STABILITY_LOGS
# (default /var/tmp/kvmm-stability).
set -uo pipefail
here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
repo=$(cd "$here/../.." && pwd)
hosts=5 runs=200 smp=2 job=io_uring-write disks=sdb inner=vmm label=${TESTHOST_CPU:-max}
while [ $# -gt 2 ]; do
  case $1 in
    --hosts) hosts=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --smp) smp=$2; shift 2 ;;
    --job) job=$2; shift 2 ;;
    --disks) disks=$2; shift 2 ;;
    --inner) inner=$2; shift 2 ;;
    --label) label=$2; shift 2 ;;
    *) echo "stability: unknown option $1" >&2; exit 2 ;;
  esac
done
[ $# -eq 2 ] || { sed -n '8,9p' "$0" >&2; exit 2; }
vmm=$(readlink -f "$1") image=$(readlink -f "$2")
logs=${STABILITY_LOGS:-/var/tmp/kvmm-stability}
mkdir -p "$logs"

# Inside the test host: the demo's disks (plain virtio, zoned virtio, AHCI, IDE), the loop plan.
# With --inner qemu the same guest runs under QEMU (zoned virtio becomes a plain one).
read -r -d '' boot_script <<'SCRIPT'
set -u
vmm=$1 image=$2 inner=$3 smp=$4 append=$5 guard=$6
d=$(mktemp -d /tmp/stability.XXXXXX)
truncate -s 256M "$d/virtio.img" "$d/ahci.img" "$d/ide.img"
truncate -s 512M "$d/zoned.img"
if [ "$inner" = qemu ]; then
  cmd=(qemu-system-x86_64 -enable-kvm -cpu host -machine pc -m 1G -smp "$smp" -nographic -nodefaults
       -serial stdio -no-reboot -kernel "$image/vmlinuz" -initrd "$image/initrd.img"
       -drive "file=$d/virtio.img,if=virtio,format=raw,cache=none"
       -drive "file=$d/zoned.img,if=virtio,format=raw,cache=none"
       -device ahci,id=ahci0 -drive "file=$d/ahci.img,if=none,id=sa,format=raw,cache=writeback"
       -device ide-hd,drive=sa,bus=ahci0.0
       -drive "file=$d/ide.img,if=ide,format=raw,cache=writethrough,bus=1,unit=0")
else
  cmd=("$vmm" -m 1G -smp "$smp" -nographic -kernel "$image/vmlinuz" -initrd "$image/initrd.img"
       -drive "file=$d/virtio.img,if=virtio,format=raw,cache=none"
       -drive "file=$d/zoned.img,if=virtio,format=raw,cache=none,zoned=on"
       -drive "file=$d/ahci.img,if=ahci,format=raw,cache=writeback"
       -drive "file=$d/ide.img,if=ide,format=raw,cache=writethrough")
fi
"$guard" 180 '^(LOOP|RESULT|PLAN-DONE|kvmm:) ' "${cmd[@]}" \
  -append "console=ttyS0 quiet reboot=k panic=-1 $append" < /dev/null
echo "stability: inner VMM status $?"
SCRIPT

total_runs=0 clean=0
declare -A ends=()
for ((h = 1; h <= hosts; h++)); do
  log="$logs/$(date +%Y%m%d-%H%M%S)-$label-$h.log"
  append="plan=fioloop disks=$disks loop_count=$runs loop_job=$job fio_size=8M"
  "$repo/tests/testhost/run" --timeout $((600 + runs * 6)) -- bash -c "$boot_script" stability \
    "$vmm" "$image" "$inner" "$smp" "$append" "$repo/tests/boot/lib/progress_guard.sh" \
    2>&1 | sed -u 's/\r//g' > "$log"
  st=${PIPESTATUS[0]}
  done_runs=$(grep -c '^LOOP .* pass ' "$log")
  asked=$(( runs * $(tr ',' '\n' <<< "$disks" | wc -l) ))
  if grep -q 'testhost: outer kernel' "$log"; then end=outer-kernel
  elif grep -q 'progress-guard: no progress' "$log"; then end=guest-stall
  elif grep -q 'triple fault' "$log"; then end=triple-fault
  elif grep -qE 'Oops|BUG:|Kernel panic' "$log"; then end=oops
  elif grep -q 'rcu_preempt detected stalls' "$log"; then end=rcu-stall
  elif [ "$st" -ne 0 ] && ! grep -q '^PLAN-DONE' "$log"; then end=testhost-$st
  elif [ "$done_runs" -eq "$asked" ]; then end=clean
  else end=incomplete
  fi
  [ "$end" = clean ] && clean=$((clean + 1))
  ends[$end]=$(( ${ends[$end]:-0} + 1 ))
  total_runs=$((total_runs + done_runs))
  echo "STABILITY $label host=$h runs=$done_runs/$asked end=$end log=$log"
done
summary=$(for k in "${!ends[@]}"; do printf '%s=%s ' "$k" "${ends[$k]}"; done)
echo "STABILITY $label total: $hosts boots, $clean clean, $total_runs fio runs; ends: $summary"
