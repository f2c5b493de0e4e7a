# Benchmark plan of the kvmm guest (sourced by plans.sh; its conventions: result, note, opt[]).
# bench/compare.sh sources this file on the host too, for the job definitions and the output
# parser, so the guests and the host baseline run exactly the same fio jobs.
#
# bench: fio on every selected writable non-zoned disk, one fio process per disk running each
# job (stonewalled, in order) bench_repeat times; for every job run one line:
#   BENCH <job> <iface> dev=<disk> run=<n> iops=<N> bw_kib=<N> lat_us=<mean> err=<fio error>
# <iface> is virtio, ahci or ide (from the disk's PCI driver). Options (kernel command line):
#   bench_jobs=a,b       subset of randread4k-qd1,randread4k-qd32,randwrite4k-qd32,seqread1m
#   bench_runtime=5      seconds measured per run (time_based), after bench_ramp=1 s of ramp-up
#   bench_repeat=1       runs of the whole job list per disk (a b c d a b c d ...)
#   bench_size=256M      region of each disk the jobs use, from offset 0
#   bench_engine=libaio  fio ioengine
# The jobs overwrite the disks' contents.

BENCH_JOBS_ALL="randread4k-qd1 randread4k-qd32 randwrite4k-qd32 seqread1m"

# Prints the fio options of one job.
bench_job_args() {
  case $1 in
    randread4k-qd1) echo "--rw=randread --bs=4k --iodepth=1" ;;
    randread4k-qd32) echo "--rw=randread --bs=4k --iodepth=32" ;;
    randwrite4k-qd32) echo "--rw=randwrite --bs=4k --iodepth=32" ;;
    seqread1m) echo "--rw=read --bs=1M --iodepth=4" ;;
    *) return 1 ;;
  esac
}

# bench_fio TARGET RUNTIME RAMP SIZE ENGINE REPEAT JOB...: one fio process, terse v3 on stdout.
bench_fio() {
  local target=$1 runtime=$2 ramp=$3 size=$4 engine=$5 repeat=$6 r job args=()
  shift 6
  for ((r = 1; r <= repeat; r++)); do
    for job in "$@"; do
      # shellcheck disable=SC2207
      args+=(--name="$job@$r" $(bench_job_args "$job") --stonewall)
    done
  done
  fio --filename="$target" --direct=1 --ioengine="$engine" --size="$size" --time_based \
      --runtime="$runtime" --ramp_time="$ramp" --randrepeat=0 --norandommap --numjobs=1 \
      --output-format=terse --terse-version=3 "${args[@]}"
}

# bench_parse IFACE DEV: terse v3 lines on stdin -> BENCH lines. Field numbers (terse v3): 5
# error, 7/8 read bandwidth KiB/s and IOPS, 40 read total latency mean (us), 48/49 write
# bandwidth and IOPS, 81 write latency mean.
bench_parse() {
  awk -F';' -v iface="$1" -v dev="$2" '
    $1 == "3" {
      split($3, n, "@")
      if ($49 + 0 > $8 + 0) { iops = $49; bw = $48; lat = $81 } else { iops = $8; bw = $7; lat = $40 }
      printf "BENCH %s %s dev=%s run=%s iops=%d bw_kib=%d lat_us=%.1f err=%s\n", n[1], iface, dev, n[2], iops, bw, lat, $5
      fflush()
    }'
}

# The controller a disk hangs off: virtio, ahci, ide, or the PCI driver's name.
bench_iface() {
  local d=$1 p drv
  case $d in vd*) echo virtio; return ;; esac
  p=$(readlink -f "/sys/block/$d/device")
  while [ -n "$p" ] && [ "$p" != / ]; do
    case ${p##*/} in
      0000:*)
        drv=$(readlink -f "$p/driver"); drv=${drv##*/}
        case $drv in ahci) echo ahci ;; ata_piix) echo ide ;; *) echo "${drv:-unknown}" ;; esac
        return ;;
    esac
    p=${p%/*}
  done
  echo unknown
}

plan_bench() {
  local runtime=${opt[bench_runtime]:-5} ramp=${opt[bench_ramp]:-1} size=${opt[bench_size]:-256M}
  local repeat=${opt[bench_repeat]:-1} engine=${opt[bench_engine]:-libaio}
  local jobs=${opt[bench_jobs]:-$BENCH_JOBS_ALL} d iface any='' want n job
  jobs=${jobs//,/ }
  for job in $jobs; do
    bench_job_args "$job" > /dev/null || { result "bench-$job" fail "unknown job (known: $BENCH_JOBS_ALL)"; return; }
  done
  note "bench: $(fio --version)"
  for d in $(target_disks); do
    case $d in nullb*) continue ;; esac
    is_zoned "$d" && continue
    [ "$(<"/sys/block/$d/ro")" = 0 ] || continue
    any=1
    iface=$(bench_iface "$d")
    note "bench: /dev/$d ($iface): $jobs, ${runtime}+${ramp} s each, $repeat run(s), $size, $engine"
    # shellcheck disable=SC2086
    bench_fio "/dev/$d" "$runtime" "$ramp" "$size" "$engine" "$repeat" $jobs 2> /tmp/bench.err |
      bench_parse "$iface" "$d" | tee /tmp/bench.out
    want=$(( $(wc -w <<< "$jobs") * repeat ))
    n=$(grep -c '^BENCH ' /tmp/bench.out)
    if [ "$n" = "$want" ] && ! grep -q ' err=[1-9]' /tmp/bench.out; then
      result "bench-$d" pass "$iface: $n fio runs"
    else
      result "bench-$d" fail "$iface: $n of $want fio runs ok: $(head -c 300 /tmp/bench.err | tr '\n' ' ')"
    fi
  done
  [ -n "$any" ] || result bench skip "no writable non-zoned disk"
}
