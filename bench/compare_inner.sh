#!/usr/bin/env bash
# The part of bench/compare.sh that runs where /dev/kvm can boot Linux (inside the KVM test
# host). Creates three backing files in this machine's /tmp (tmpfs: the fastest storage
# there is, so the VMMs' own overhead shows), then runs ROUNDS rounds of
#   our VMM  (virtio-blk + AHCI + IDE, cache=none, aio=io_uring)    guest plan=bench
#   QEMU -M pc (virtio-blk-pci with an iothread, ich9-ahci + ide-hd, PIIX ide-hd; cache=none,
#            aio=io_uring)                                           guest plan=bench
#   host fio on the virtio backing file                              the physical limit
# with the same kernel, initrd, -m, -smp and fio jobs (guest/init/plan-bench.sh). Which VMM goes
# first alternates by round; one discarded warm-up boot comes first (the first nested boot in a
# fresh test host unpacks the initramfs much faster than later ones, see docs/boot.md).
# Appends to OUT/results.txt:
#   <vmm> <round> BENCH <job> <iface> dev=.. run=.. iops=.. bw_kib=.. lat_us=.. err=..
#   BOOT <vmm> <round> init_ms=<ms to the guest's "kvmm-init: started"> total_ms=.. status=..
# and the consoles to OUT/console-<vmm>-<round>.log, versions to OUT/meta.txt.
#
# Usage: compare_inner.sh VMM IMAGE_DIR OUT_DIR ROUNDS REPEAT RUNTIME RAMP SIZE JOBS
#   REPEAT: runs of the job list inside each guest boot (fio runs per job = ROUNDS x REPEAT).
# Environment (debugging/diagnosis): KVMM_COMPARE_WARMUP=0 skips the warm-up boot; KVMM_COMPARE_VMMS
# picks from "ours qemu host" (default) and "qemu-nopoll" (QEMU with iothread polling off).
set -uo pipefail

vmm=$1 image=$2 out=$3 rounds=$4 repeat=$5 runtime=$6 ramp=$7 size=$8 jobs=$9
here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
# shellcheck source=guest/init/plan-bench.sh
. "$here/../guest/init/plan-bench.sh"

work=$(mktemp -d /tmp/kvmm-compare.XXXXXX)
# Kernel and initrd from this machine's memory, not re-read through 9p by every boot.
cp "$image/vmlinuz" "$image/initrd.img" "$work/" || { echo "compare: cannot copy the guest image" >&2; exit 1; }
for d in virtio ahci ide; do
  fallocate -l "$size" "$work/$d.img" || { echo "compare: fallocate $size in /tmp failed" >&2; exit 1; }
done

kernel=(-kernel "$work/vmlinuz" -initrd "$work/initrd.img")
machine=(-m 1G -smp 1)
append="console=ttyS0 quiet reboot=k panic=-1 timeout=1500 plan=bench bench_runtime=$runtime"
append+=" bench_ramp=$ramp bench_size=$size bench_repeat=$repeat bench_jobs=$jobs"
ours=("$vmm" "${machine[@]}" -nographic -serial stdio "${kernel[@]}"
      -drive "file=$work/virtio.img,if=virtio,format=raw,cache=none,aio=io_uring"
      -drive "file=$work/ahci.img,if=ahci,format=raw,cache=none,aio=io_uring"
      -drive "file=$work/ide.img,if=ide,format=raw,cache=none,aio=io_uring"
      -append "$append")
# shellcheck disable=SC2054  # commas belong to QEMU option values
qemu=(qemu-system-x86_64 -enable-kvm -cpu host -M pc "${machine[@]}" -nographic -no-reboot -net none
      -device isa-debug-exit,iobase=0xf4,iosize=1 "${kernel[@]}" -append "$append"
      -object iothread,id=iothread0
      -drive "file=$work/virtio.img,if=none,id=kvmm-vd,format=raw,cache=none,aio=io_uring"
      -device virtio-blk-pci,drive=kvmm-vd,iothread=iothread0
      -device ich9-ahci,id=ahci0
      -drive "file=$work/ahci.img,if=none,id=kvmm-sd,format=raw,cache=none,aio=io_uring"
      -device ide-hd,drive=kvmm-sd,bus=ahci0.0
      -drive "file=$work/ide.img,if=none,id=kvmm-hd,format=raw,cache=none,aio=io_uring"
      -device ide-hd,drive=kvmm-hd,bus=ide.0)
# Diagnosis only: the same QEMU without the iothread's adaptive busy polling.
qemu_nopoll=()
for a in "${qemu[@]}"; do
  [ "$a" = iothread,id=iothread0 ] && a+=,poll-max-ns=0
  qemu_nopoll+=("$a")
done

elapsed_ms() { local now=$EPOCHREALTIME; echo $(( (${now/./} - ${1/./}) / 1000 )); }

# boot NAME ROUND CMD...: one guest boot; console to a log, BENCH lines and the boot timing to
# results.txt. The clock runs from starting the VMM to the console line of the guest's /init.
boot() {
  local name=$1 round=$2 t0 line init_ms=- status log="$out/console-$1-$2.log"
  shift 2
  echo "compare: round $round: $name" >&2
  t0=$EPOCHREALTIME
  : > "$log"
  while IFS= read -r line; do
    line=${line%$'\r'}
    [ "$init_ms" = - ] && [[ $line == *"kvmm-init: started"* ]] && init_ms=$(elapsed_ms "$t0")
    printf '%s\n' "$line" >> "$log"
    case $line in
      BENCH\ *) echo "$name $round $line" >> "$out/results.txt"; echo "  $name: $line" >&2 ;;
      RESULT\ *\ fail*|*"vmm: exiting"*) echo "  $name: $line" >&2 ;;
      "kvmm: bench: fio-"*) grep -q '^guest_fio ' "$out/meta.txt" || echo "guest_fio ${line#kvmm: bench: }" >> "$out/meta.txt" ;;
    esac
  done < <(timeout 1800 "$@" < /dev/null 2>&1)
  wait $!; status=$?
  # The exit status alone does not tell: our VMM also exits 0 on a triple fault (reset).
  local plan=incomplete
  grep -q '^PLAN-DONE ' "$log" && plan='done'
  echo "BOOT $name $round init_ms=$init_ms total_ms=$(elapsed_ms "$t0") status=$status plan=$plan" >> "$out/results.txt"
  echo "compare: $name: init after ${init_ms} ms, status $status, plan $plan" >&2
}

host_fio() {
  local round=$1 line
  echo "compare: round $round: host fio on $work/virtio.img" >&2
  # shellcheck disable=SC2086
  while IFS= read -r line; do
    echo "host $round $line" >> "$out/results.txt"
    echo "  host: $line" >&2
  done < <(bench_fio "$work/virtio.img" "$runtime" "$ramp" "$size" libaio "$repeat" ${jobs//,/ } 2>> "$out/host-fio.err" |
           bench_parse host virtio.img)
}

{
  echo "testhost_kernel $(uname -r)"
  echo "testhost_cpus $(nproc)"
  echo "testhost_mem_mib $(( $(awk '/^MemTotal/{print $2}' /proc/meminfo) / 1024 ))"
  echo "qemu $(qemu-system-x86_64 --version | head -1)"
  echo "host_fio $(fio --version)"
  echo "initrd_bytes $(stat -c %s "$work/initrd.img")"
  echo "guest_append $append"
} >> "$out/meta.txt"

[ "${KVMM_COMPARE_WARMUP:-1}" = 0 ] || boot warmup 0 "$vmm" "${machine[@]}" -nographic -serial stdio \
  "${kernel[@]}" -append "console=ttyS0 quiet reboot=k panic=-1 plan=boot"
wanted() { [[ " ${KVMM_COMPARE_VMMS:-ours qemu host} " == *" $1 "* ]]; }
for ((r = 1; r <= rounds; r++)); do
  order=(ours qemu qemu-nopoll)
  ((r % 2)) || order=(qemu-nopoll qemu ours)
  for v in "${order[@]}"; do
    wanted "$v" || continue
    case $v in
      ours) boot ours "$r" "${ours[@]}" ;;
      qemu) boot qemu "$r" "${qemu[@]}" ;;
      qemu-nopoll) boot qemu-nopoll "$r" "${qemu_nopoll[@]}" ;;
    esac
  done
  if wanted host; then host_fio "$r"; fi
done
rm -rf "$work"
