# Stall hunting (sourced by plans.sh; conventions there): one fio job of the fio plan, repeated.
#   plan=fioloop loop_job=io_uring-write loop_count=200 disks=sdb[,sda,...]
#   loop_seed=1234  fio's --randseed for every run (the fio plan's); loop_seed=vary: the run number
#   loop_stall=60   seconds one run may take before the guest prints its view of the disk
#                   (then again every loop_stall seconds while the run is still going)
# One `LOOP <disk> <i>/<n> <pass|fail> <seconds>` line per run, one RESULT per disk at the end.

# What the guest knows about a disk whose I/O does not finish: requests in flight at each layer,
# interrupt counts, libata's and the block layer's own messages, and where fio sleeps.
stall_report() {  # disk seconds
  local d=$1 f
  echo "STALL $d: run still going after $2 s; the guest's view follows"
  echo "STALL $d inflight(r w) $(cat "/sys/block/$d/inflight") stat $(cat "/sys/block/$d/stat")"
  echo "STALL $d queue max_sectors_kb=$(sysq "$d" max_sectors_kb) max_hw_sectors_kb=$(sysq "$d" max_hw_sectors_kb)" \
       "max_segments=$(sysq "$d" max_segments) max_segment_size=$(sysq "$d" max_segment_size)" \
       "nr_requests=$(sysq "$d" nr_requests) scheduler=$(sysq "$d" scheduler)"
  grep -E 'ata_piix|ahci|virtio|LOC|CAL|RES|ERR|MIS' /proc/interrupts | sed "s/^/STALL $d irq /"
  for f in /sys/kernel/debug/block/"$d"/hctx*/{busy,dispatch,tags,state} \
           /sys/kernel/debug/block/"$d"/requeue_list /sys/kernel/debug/block/"$d"/state; do
    [ -r "$f" ] && sed "s|^|STALL $d ${f#/sys/kernel/debug/block/} |" "$f" 2>/dev/null | head -20
  done
  for f in $(pgrep -x fio); do
    sed "s/^/STALL $d fio[$f] wchan $(cat /proc/$f/wchan 2>/dev/null) /" "/proc/$f/stack" 2>/dev/null | head -12
  done
  echo w > /proc/sysrq-trigger 2>/dev/null
  dmesg | tail -n 60 | sed "s/^/STALL $d dmesg /"
}

plan_fioloop() {
  local n=${opt[loop_count]:-200} job=${opt[loop_job]:-io_uring-write} stall=${opt[loop_stall]:-60}
  local d i args t0 t1 ok bad watcher seed st
  args=$(fio_job_args "$job") || { result fioloop fail "unknown loop_job=$job (known: $FIO_JOBS)"; return; }
  echo "INFO kernel $(uname -r)"
  for d in $(target_disks); do
    ok=0 bad=0
    for ((i = 1; i <= n; i++)); do
      # The watcher reports while this run lasts; it is killed when fio returns.
      ( s=0; while sleep "$stall"; do s=$((s + stall)); stall_report "$d" "$s"; done ) &
      watcher=$!
      seed=${opt[loop_seed]:-1234}; [ "$seed" = vary ] && seed=$i
      t0=$(uptime_ms)
      # shellcheck disable=SC2086
      if fio_verify "loop-$d" "$d" "$seed" $args >/tmp/fio.out 2>&1; then
        ok=$((ok + 1)); st=pass
      else
        bad=$((bad + 1)); st=fail
        tail -5 /tmp/fio.out | sed 's/^/    | /'
      fi
      kill "$watcher" 2>/dev/null; wait "$watcher" 2>/dev/null
      t1=$(uptime_ms)
      echo "LOOP $d $i/$n $st $(( (t1 - t0) / 1000 )).$(( (t1 - t0) % 1000 / 100 ))"
    done
    if [ "$bad" = 0 ]; then result "fioloop-$d-$job" pass "$ok/$n runs"
    else result "fioloop-$d-$job" fail "$bad of $n runs failed"; fi
  done
}
