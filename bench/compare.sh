#!/usr/bin/env bash
# In-guest block benchmark: our VMM against QEMU on the same guest image, fio jobs, backing
# files, -m/-smp, kernel and initrd, in ONE run of the KVM test host (tests/testhost/run), plus
# host fio on the same backing file inside the test host as the physical limit, plus time to
# the guest's /init for both VMMs. Writes the results section of docs/benchmarks.md and
# docs/benchmarks.png and prints the ratios ours/QEMU. Not part of the test command.
#
# Usage: bench/compare.sh [--rounds N] [--repeat N] [--runtime S] [--ramp S] [--size SIZE]
#                         [--jobs a,b,...] [--no-docs]
#   --rounds   boots per VMM, alternating which VMM goes first (default 2)
#   --repeat   runs of the job list inside each boot (default 2): ROUNDS x REPEAT runs per cell
#   --runtime/--ramp  seconds per fio run, measured / ramp-up (default 3 / 1)
#   --size     backing file size = region the jobs use (default 256M)
#   --jobs     subset of guest/init/plan-bench.sh's jobs (default all four)
#   --no-docs  leave docs/ alone (results stay in the work directory it prints)
# Environment: KVMM_COMPARE_VMMS / KVMM_COMPARE_WARMUP, see bench/compare_inner.sh.
# The defaults take ~15-20 min on a 2-core machine in the TCG test host.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

rounds=2 repeat=2 runtime=3 ramp=1 size=256M docs=1
jobs="randread4k-qd1,randread4k-qd32,randwrite4k-qd32,seqread1m"
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --runtime) runtime=$2; shift 2 ;;
    --ramp) ramp=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --no-docs) docs=; shift ;;
    *) echo "compare: unknown option '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
done

say() { printf 'compare: %s\n' "$*" >&2; }
scripts/setup.sh >&2
say "building the VMM (-c opt)"
bazel build -c opt //vmm:vmm >&2
work=$(mktemp -d "${TMPDIR:-/var/tmp}/kvmm-compare.XXXXXX")
# A private copy: other builds in this workspace must not swap the binary mid-run.
cp "$(bazel info -c opt bazel-bin 2>/dev/null)/vmm/vmm" "$work/vmm"
image=$(guest/build-image.sh | tail -n 1)
# Snapshot too: another build-image.sh run in this workspace may prune the cached image mid-run.
mkdir "$work/image"
cp "$image/vmlinuz" "$image/initrd.img" "$image/manifest.txt" "$work/image/"
say "guest image $image (copied), results in $work"

{
  echo "date $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "host_cpu $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
  echo "host_cpus $(nproc)"
  echo "host_mem_gib $(( $(awk '/^MemTotal/{print $2}' /proc/meminfo) / 1048576 ))"
  echo "host_kernel $(uname -r)"
  echo "guest_image $(sed -n 's/^inputs-hash: //p' "$work/image/manifest.txt"), kernel $(sed -n 's/^kernel: \([^ ]*\).*/\1/p' "$work/image/manifest.txt" | head -1)"
  echo "tree $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- vmm devices block || echo ' + uncommitted changes in vmm/devices/block')"
  echo "load_start $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "config rounds=$rounds repeat=$repeat runtime=$runtime ramp=$ramp size=$size jobs=$jobs"
} > "$work/meta-host.txt"

t0=$(date +%s)
set +e
tests/testhost/run --timeout 3000 --rw "$work" -- \
  bench/compare_inner.sh "$work/vmm" "$work/image" "$work" "$rounds" "$repeat" "$runtime" "$ramp" "$size" "$jobs" \
  2> >(tee "$work/testhost.err" >&2)
rc=$?
set -e
rm -rf "$work/image"  # 130 MB; the manifest's hash is in meta-host.txt
{
  echo "load_end $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "elapsed_s $(( $(date +%s) - t0 ))"
  echo "testhost_mode $(sed -n 's/^testhost: mode=//p' "$work/testhost.err" | head -1)"
} >> "$work/meta-host.txt"
[ "$rc" = 0 ] || { say "the test host run failed (status $rc); partial results in $work"; exit "$rc"; }

report=(python3 bench/compare_report.py "$work" --plot-data "$work/plot.dat")
[ -n "$docs" ] && report+=(--doc docs/benchmarks.md)
"${report[@]}"
png=$work/benchmarks.png
[ -n "$docs" ] && png=docs/benchmarks.png
gnuplot -e "data='$work/plot.dat'; out='$png'" bench/compare_plot.gp
say "plot: $png; raw results and consoles: $work"
