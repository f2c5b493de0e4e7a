#!/bin/bash
# Plan runner of the kvmm guest (started by /init). Kernel command line options:
#   plan=boot|fio|zoned|blktests|zonefs|shell|readonly|discard|zonewrite|zonereport[,...]
#                       plans run in order (default boot)
#   disks=vdb,sda       restrict every destructive plan to these disks (default: all vd*/sd*/hd*/nvme*)
#   fio_size=8M         bytes per fio job (fio size syntax)
#   zoned_nullb=1       create a zoned null_blk (nullbZ: 512 MiB, 16 MiB zones, 4 conventional,
#                       max open 8, max active 12) for the zoned/zonefs plans
#   settle=0.5          seconds the disk list must stay unchanged before plans start
#   timeout=SECONDS     watchdog for all plans together (default 0 = none)
#   blktests_groups=block,scsi,dm,zbd  blktests_timeout=15  blktests_exclude=dm/001
#   blktests_device_only=1
#   blktests_dm_linear=1  then zbd/007 on a dm-linear device over each zoned disk (the test needs
#                       a logical device: it checks the zone mapping against the disk below)
#   zonefs_tests=0001-0010,0100   only these zonefs-tests cases (default: all)
# Output contract (one line each, on the console):
#   RESULT <name> <pass|fail|skip> [free text]
#   PLAN-DONE <plan> <passed> passed, <failed> failed       after each plan, and for the whole
#                                                           list (plan = the list) if it has >1
# Exit status: 0 all passed, 1 some failed (skips are not failures).
set -uo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin

# ------------------------------------------------------------------ command line
declare -A opt=([plan]=boot [disks]= [fio_size]=8M [zoned_nullb]=0 [settle]=0.5 [timeout]=0
                [blktests_groups]=block,scsi,dm,zbd [blktests_timeout]=15
                [blktests_exclude]=dm/001 [blktests_device_only]=1 [blktests_dm_linear]=0
                [zonefs_tests]=)
for word in $(cat /proc/cmdline); do
  case $word in
    # Every key=value is kept: plan files (plan-*.sh) read their own with ${opt[key]:-default}.
    *=*) k=${word%%=*}; [ -n "$k" ] && opt[$k]=${word#*=} ;;
  esac
done

RESULTS=/run/kvmm-results
: > "$RESULTS"
result() {  # name pass|fail|skip [text...]
  local name=$1 status=$2; shift 2
  echo "RESULT $name $status${*:+ $*}"
  echo "$status" >> "$RESULTS"
}
count() { grep -cx "$1" "$RESULTS"; }
note() { echo "kvmm: $*"; }
# Runs a command with its output indented on the console; returns the command's status.
run() { "$@" 2>&1 | sed 's/^/    | /'; return "${PIPESTATUS[0]}"; }

# ------------------------------------------------------------------ modules and disks
load_modules() {
  local m failed= mods
  mods=$(cat /usr/lib/kvmm/load-modules 2>/dev/null)
  # One modprobe for all (each exec of kmod costs a lot under TCG); retry one by one on failure.
  # shellcheck disable=SC2086
  if ! modprobe -a $mods 2>/dev/null; then
    for m in $mods; do modprobe "$m" 2>/dev/null || failed+=" $m"; done
  fi
  [ -z "$failed" ] || result modules fail "modprobe failed:$failed"
  note "modules loaded at $(cut -d' ' -f1 /proc/uptime) s"
}

blockdevs() { ls /sys/block 2>/dev/null | grep -E '^(vd|sd|hd|nvme|nullb)' ; }

uptime_ms() { local u; read -r u _ < /proc/uptime; u=${u/./}; echo $((10#$u * 10)); }

# Waits until the set of disks has not changed for settle= seconds (at most 15 s). Builtins only:
# every fork is expensive under TCG.
settle_disks() {
  local prev= cur f start now last need
  need=$(awk -v s="${opt[settle]}" 'BEGIN{printf "%d", s*1000}')
  start=$(uptime_ms); last=$start
  while :; do
    cur=
    for f in /sys/block/vd* /sys/block/sd* /sys/block/hd* /sys/block/nvme* /sys/block/nullb*; do
      [ -e "$f" ] && cur+="${f##*/} "
    done
    now=$(uptime_ms)
    if [ "$cur" != "$prev" ]; then prev=$cur; last=$now; fi
    [ $((now - last)) -ge "$need" ] && break
    [ $((now - start)) -ge 15000 ] && break
    sleep 0.05
  done
  note "disks settled after $(( (now - start) / 1000 )).$(( (now - start) % 1000 / 100 )) s: ${cur:-none}"
}

make_zoned_nullb() {
  local d=/sys/kernel/config/nullb/nullbZ
  modprobe null_blk nr_devices=0 || { result zoned-nullb fail "modprobe null_blk"; return; }
  [ -d /sys/kernel/config/nullb ] || { result zoned-nullb fail "no configfs nullb"; return; }
  mkdir "$d" && echo 512 > "$d/size" && echo 1 > "$d/memory_backed" && echo 4096 > "$d/blocksize" &&
    echo 1 > "$d/zoned" && echo 16 > "$d/zone_size" && echo 4 > "$d/zone_nr_conv" &&
    echo 8 > "$d/zone_max_open" && echo 12 > "$d/zone_max_active" && echo 1 > "$d/power" ||
    { result zoned-nullb fail "configfs setup"; return; }
  local i=0; while [ ! -b /dev/nullbZ ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
  if [ -b /dev/nullbZ ]; then
    note "zoned null_blk: /dev/nullbZ 512 MiB, 16 MiB zones, 4 conventional, max open 8, max active 12"
  else
    result zoned-nullb fail "/dev/nullbZ did not appear"
  fi
}

sysq() { local v; { read -r v < "/sys/block/$1/queue/$2"; } 2>/dev/null && echo "$v" || echo "?"; }
is_zoned() { [ "$(sysq "$1" zoned)" = host-managed ]; }

# Disks the destructive plans may touch: disks= if given, else every vd/sd/hd/nvme/nullb disk.
target_disks() {
  local d
  if [ -n "${opt[disks]}" ]; then
    for d in ${opt[disks]//,/ }; do
      d=${d#/dev/}
      if [ -e "/sys/block/$d" ]; then echo "$d"; else result "disk-$d" fail "disks= names missing /dev/$d"; fi
    done
  else
    blockdevs
  fi
}

# ------------------------------------------------------------------ plan: boot
plan_boot() {
  local d mem
  mem=$(awk '/^MemTotal/{print $2}' /proc/meminfo)
  echo "INFO kernel $(uname -r)"
  echo "INFO cmdline $(cat /proc/cmdline)"
  echo "INFO cpus $(nproc) memory ${mem}KiB uptime $(cut -d' ' -f1 /proc/uptime)s"
  # Firmware-described resources (ACPI PM blocks) and which IRQs the disks' drivers got.
  echo "INFO ioports-acpi $(grep -i 'acpi' /proc/ioports | sed 's/^ *//' | tr '\n' ';')"
  echo "INFO irqs $(grep -E 'ata_piix|ahci|virtio' /proc/interrupts | awk '{printf "%s%s ", $1, $NF}')"
  for d in $(blockdevs); do
    echo "DISK $d size=$(( $(<"/sys/block/$d/size") * 512 )) rotational=$(sysq $d rotational)" \
         "zoned=$(sysq $d zoned) nr_zones=$(sysq $d nr_zones) chunk_sectors=$(sysq $d chunk_sectors)" \
         "lbs=$(sysq $d logical_block_size) pbs=$(sysq $d physical_block_size)" \
         "max_open=$(sysq $d max_open_zones) max_active=$(sysq $d max_active_zones)" \
         "discard_max=$(sysq $d discard_max_bytes) ro=$(<"/sys/block/$d/ro")" \
         "hw_queues=$(ls -d /sys/block/$d/mq/*/ 2>/dev/null | wc -l)" \
         "model=$(tr -d ' ' 2>/dev/null < /sys/block/$d/device/model || echo -)" \
         "max_sectors_kb=$(sysq $d max_sectors_kb) max_segments=$(sysq $d max_segments)" \
         "max_segment_size=$(sysq $d max_segment_size)"
  done
  result boot pass "kernel $(uname -r), $(nproc) cpus, ${mem} KiB, disks: $(blockdevs | tr '\n' ' ')"
}

# ------------------------------------------------------------------ plan: fio
# The fio plan's write+verify run (also what fioloop repeats): name disk seed extra-args...
fio_verify() {
  local name=$1 disk=$2 seed=$3; shift 3
  fio --name="$name" --filename="/dev/$disk" --direct=1 --size="${opt[fio_size]}" \
    --bsrange="$(sysq "$disk" logical_block_size)-64k" --verify=crc32c --do_verify=1 \
    --verify_fatal=1 --randseed="$seed" --group_reporting "$@"
}

fio_job() {  # name disk extra-args...
  local name=$1 disk=$2; shift 2
  if run fio_verify "$name" "$disk" 1234 "$@" >/tmp/fio.out; then
    result "$name" pass "crc32c verify ok, ${opt[fio_size]}, bs $(sysq "$disk" logical_block_size)-64k"
  else
    result "$name" fail "fio exited non-zero: $(grep -m1 -i 'error\|verify' /tmp/fio.out)"
    tail -5 /tmp/fio.out | sed 's/^/    | /'
  fi
}

# The fio plan's jobs by name (fioloop repeats one of them).
FIO_JOBS="psync-randwrite libaio-randwrite io_uring-write"
fio_job_args() {
  case $1 in
    psync-randwrite) echo --rw=randwrite --ioengine=psync ;;
    libaio-randwrite) echo --rw=randwrite --ioengine=libaio --iodepth=16 ;;
    io_uring-write) echo --rw=write --ioengine=io_uring --iodepth=16 ;;
    *) return 1 ;;
  esac
}

plan_fio() {
  local d j any=
  for d in $(target_disks); do
    case $d in nullb*) continue ;; esac
    is_zoned "$d" && continue
    any=1
    for j in $FIO_JOBS; do
      # shellcheck disable=SC2046
      fio_job "fio-$d-$j" "$d" $(fio_job_args "$j")
    done
    if [ "$(sysq "$d" discard_max_bytes)" != 0 ]; then
      if run blkdiscard -o 0 -l 1048576 "/dev/$d"; then result "fio-$d-discard" pass "blkdiscard 1 MiB"
      else result "fio-$d-discard" fail "blkdiscard failed"; fi
    fi
  done
  [ -n "$any" ] || result fio skip "no non-zoned disk"
}

# ------------------------------------------------------------------ plan: zoned
# zone_info DEV SECTOR -> "cond wp_offset type" of the zone starting at SECTOR (hex parsed)
zone_info() {
  # blkzone prints e.g. "start: 0x000080000, len 0x008000, cap 0x008000, wptr 0x000000 reset:0
  # non-seq:0, zcond: 1(em) [type: 2(SEQ_WRITE_REQUIRED)]" (no blank after "zcond:" for 2 digits)
  blkzone report -o "$2" -c 1 "$1" 2>/dev/null | gawk '
    { c = "?"; wp = "?"; t = "?"
      if (match($0, /wptr 0x([0-9a-fA-F]+)/, m)) wp = strtonum("0x" m[1])
      if (match($0, /zcond: *([0-9]+)/, m)) c = m[1]
      if (match($0, /type: *([0-9]+)/, m)) t = m[1] }
    END { printf "%s %s %s\n", c, wp, t }'
}

zone_check() {  # name dev sector expected-cond [expected-wp]
  local name=$1 dev=$2 s=$3 want=$4 wantwp=${5:-} c wp t
  read -r c wp t < <(zone_info "$dev" "$s")
  if [ "$c" = "$want" ] && { [ -z "$wantwp" ] || [ "$wp" = "$wantwp" ]; }; then
    result "$name" pass "zone@$s cond=$c wp=$wp"
  else
    result "$name" fail "zone@$s cond=$c wp=$wp, expected cond=$want${wantwp:+ wp=$wantwp}"
  fi
}

zoned_disk() {
  local d=$1 dev=/dev/$1 p="zoned-$1" nz zs zbytes lbs seq report n cap maxo maxa
  nz=$(sysq "$d" nr_zones); zs=$(sysq "$d" chunk_sectors); lbs=$(sysq "$d" logical_block_size)
  maxo=$(sysq "$d" max_open_zones); maxa=$(sysq "$d" max_active_zones)
  zbytes=$((zs * 512))
  echo "INFO $d zoned host-managed nr_zones=$nz zone_sectors=$zs max_open=$maxo max_active=$maxa" \
       "zone_append_max=$(sysq "$d" zone_append_max_bytes) lbs=$lbs"
  report=$(blkzone report "$dev" 2>&1) || { result "$p-report" fail "blkzone report failed"; return; }
  n=$(grep -c 'start:' <<< "$report")
  if [ "$n" = "$nz" ]; then result "$p-report" pass "$n zones"
  else result "$p-report" fail "blkzone report lists $n zones, sysfs nr_zones=$nz"; fi
  # The first sequential-write-required zone drives the state-machine checks.
  seq=$(awk '/SEQ_WRITE_REQUIRED/{for (i=1;i<=NF;i++) if ($i=="start:") {print strtonum($(i+1)); exit}}' <<< "$report")
  [ -n "$seq" ] || { result "$p" skip "no sequential zone"; return; }
  cap=$(awk -v s="$seq" '{for (i=1;i<=NF;i++) if ($i=="start:" && strtonum($(i+1))==s)
          for (j=1;j<=NF;j++) if ($j=="cap") {print strtonum($(j+1)); exit}}' <<< "$report")
  cap=${cap:-$zs}
  local wsec=$((lbs / 512)) unit=$lbs
  [ "$(sysq "$d" physical_block_size)" -gt "$unit" ] && unit=$(sysq "$d" physical_block_size)
  wsec=$((unit / 512))

  blkzone reset -o "$seq" -c 1 "$dev" && zone_check "$p-reset" "$dev" "$seq" 1 0 ||
    result "$p-reset" fail "blkzone reset failed"
  if dd if=/dev/urandom of="$dev" bs="$unit" count=1 seek=$((seq / wsec)) oflag=direct status=none; then
    zone_check "$p-write-implicit-open" "$dev" "$seq" 2 "$wsec"
  else result "$p-write-implicit-open" fail "write at the write pointer failed"; fi
  if dd if=/dev/zero of="$dev" bs="$unit" count=1 seek=$((seq / wsec + 4)) oflag=direct status=none 2>/dev/null; then
    result "$p-write-not-at-wp" fail "a write 4 blocks past the write pointer succeeded"
  else result "$p-write-not-at-wp" pass "rejected as expected"; fi
  blkzone close -o "$seq" -c 1 "$dev" && zone_check "$p-close" "$dev" "$seq" 4 "$wsec" ||
    result "$p-close" fail "blkzone close failed"
  blkzone open -o "$seq" -c 1 "$dev" && zone_check "$p-open" "$dev" "$seq" 3 "$wsec" ||
    result "$p-open" fail "blkzone open failed"
  blkzone finish -o "$seq" -c 1 "$dev" && zone_check "$p-finish" "$dev" "$seq" 14 ||
    result "$p-finish" fail "blkzone finish failed"
  blkzone reset -o "$seq" -c 1 "$dev" && zone_check "$p-reset-full" "$dev" "$seq" 1 0 ||
    result "$p-reset-full" fail "blkzone reset failed"
  # Whole-device reset (RESET_ALL): afterwards no sequential zone may be non-empty.
  if run blkzone reset "$dev"; then
    n=$(blkzone report "$dev" | grep SEQ_WRITE_REQUIRED | grep -vc 'zcond: *1(')
    if [ "$n" = 0 ]; then result "$p-reset-all" pass "all sequential zones empty"
    else result "$p-reset-all" fail "$n sequential zones not empty after reset-all"; fi
  else result "$p-reset-all" fail "blkzone reset (all) failed"; fi

  # fio in zonemode=zbd: sequential and random writes over a few zones, verified.
  local nzf=4 sz
  [ $((nz - seq / zs)) -lt "$nzf" ] && nzf=$((nz - seq / zs))
  sz=$((nzf * zbytes))
  local zopts=(--filename="$dev" --direct=1 --zonemode=zbd --offset=$((seq * 512)) --size=$sz
               --io_size="${opt[fio_size]}" --verify=crc32c --do_verify=1 --verify_fatal=1
               --output-format=terse --terse-version=3 --bs=$((unit > 4096 ? unit : 4096)))
  [ "$maxo" != 0 ] && [ "$maxo" != "?" ] && zopts+=(--max_open_zones="$maxo")
  echo mq-deadline > "/sys/block/$d/queue/scheduler" 2>/dev/null
  if run fio --name=zbd-seq "${zopts[@]}" --rw=write --ioengine=psync >/tmp/fio.out; then
    result "$p-fio-seq-write" pass "zonemode=zbd psync write+verify"
  else result "$p-fio-seq-write" fail "fio zonemode=zbd write: $(grep -m1 -i error /tmp/fio.out)"; fi
  if run fio --name=zbd-rand "${zopts[@]}" --rw=randwrite --ioengine=io_uring --iodepth=4 >/tmp/fio.out; then
    result "$p-fio-rand-write" pass "zonemode=zbd io_uring randwrite+verify"
  else result "$p-fio-rand-write" fail "fio zonemode=zbd randwrite: $(grep -m1 -i error /tmp/fio.out)"; fi
  run blkzone reset "$dev"

  # zonefs: mkzonefs, mount, append to a sequential file, truncate (reset), unmount.
  modprobe zonefs 2>/dev/null
  mkdir -p /mnt/zonefs
  if run mkzonefs -f "$dev" && mount -t zonefs "$dev" /mnt/zonefs; then
    local f=/mnt/zonefs/seq/0
    if [ -f "$f" ] && dd if=/dev/urandom of="$f" bs=4096 count=4 oflag=direct,append conv=notrunc status=none &&
       [ "$(stat -c %s "$f")" = 16384 ] && truncate -s 0 "$f" && [ "$(stat -c %s "$f")" = 0 ]; then
      result "$p-zonefs" pass "mkzonefs, mount, append 16 KiB to seq/0, truncate"
    else result "$p-zonefs" fail "zonefs file I/O on seq/0 failed"; fi
    umount /mnt/zonefs || result "$p-zonefs-umount" fail "umount zonefs"
  else result "$p-zonefs" fail "mkzonefs or mount -t zonefs failed"; fi

  # btrfs zoned: the only in-kernel ZONE_APPEND user in 6.12.
  if [ "$zbytes" -lt $((4 << 20)) ] || [ "$zbytes" -gt $((8 << 30)) ]; then
    result "$p-btrfs" skip "zone size $zbytes outside btrfs's 4 MiB..8 GiB"
  elif [ "$maxa" != 0 ] && [ "$maxa" -lt 8 ] 2>/dev/null; then
    result "$p-btrfs" skip "max_active_zones $maxa < 8"
  elif ! modprobe btrfs 2>/dev/null; then
    result "$p-btrfs" fail "modprobe btrfs"
  else
    mkdir -p /mnt/btrfs
    # btrfs retries a failed ZONE APPEND and still passes its check: count the kernel's
    # "I/O error, dev vdX" lines (ratelimited, so a count above 0 is what matters).
    local ioerr_before ioerr_after
    ioerr_before=$(dmesg | grep -c "I/O error, dev $d,")
    if run mkfs.btrfs -q -f -d single -m single "$dev" && mount -t btrfs "$dev" /mnt/btrfs &&
       run fio --name=btrfs --directory=/mnt/btrfs --size=4M --nrfiles=2 --bs=16k --rw=write \
               --ioengine=psync --verify=crc32c --do_verify=1 --verify_fatal=1 --output-format=terse >/dev/null &&
       umount /mnt/btrfs && run btrfs check "$dev" >/dev/null; then
      ioerr_after=$(dmesg | grep -c "I/O error, dev $d,")
      if [ "$ioerr_after" = "$ioerr_before" ]; then
        result "$p-btrfs" pass "mkfs.btrfs (zoned), mount, fio verify, btrfs check, no I/O errors"
      else
        dmesg | grep "I/O error, dev $d," | tail -3
        result "$p-btrfs" fail "btrfs passed, but the kernel logged $((ioerr_after - ioerr_before)) I/O errors on $d"
      fi
    else
      umount /mnt/btrfs 2>/dev/null
      result "$p-btrfs" fail "btrfs zoned smoke test"
    fi
    run blkzone reset "$dev"
  fi
}

plan_zoned() {
  local d any=
  for d in $(target_disks); do
    is_zoned "$d" || continue
    any=1
    zoned_disk "$d"
  done
  [ -n "$any" ] || result zoned skip "no host-managed zoned disk"
}

# ------------------------------------------------------------------ plan: blktests
# What blktests (and zonefs-tests) expect from a distribution but the initramfs lacks:
# - zgrep: blktests' _get_kernel_option reads /boot/config-$(uname -r) with zgrep; without it
#   every _have_kernel_option check fails ("kernel option X has not been enabled"), which
#   silently turns the whole zbd group (BLK_DEV_ZONED) into "not run". A small shim does:
#   grep, or gzip -dc | grep when the file ends in .gz.
# - debugfs mounted (block/036 and the null_blk based tests look for it).
suite_prereqs() {
  if ! command -v zgrep > /dev/null; then
    mkdir -p /usr/local/bin
    printf '%s\n' '#!/bin/bash' '# kvmm guest zgrep shim (see plans.sh suite_prereqs)' \
      'f=${!#}' \
      'case $f in *.gz) gzip -dc -- "$f" | grep "${@:1:$#-1}" ;; *) exec grep "$@" ;; esac' \
      > /usr/local/bin/zgrep
    chmod 755 /usr/local/bin/zgrep
  fi
  if [ -d /sys/kernel/debug ] && ! grep -q ' /sys/kernel/debug ' /proc/mounts; then
    mount -t debugfs debugfs /sys/kernel/debug 2> /dev/null
  fi
}

# Fills the associative array named $1 from ./check's output on stdin: "group/nnn@dev" (or
# "group/nnn" for NODEV tests) -> the indented reason lines under its "[not run]" line, joined
# with "; " (the result files only say "not run").
blktests_skip_reasons() {
  local -n map=$1
  local clean key=
  while IFS= read -r clean; do
    if [[ $clean =~ ^([a-z]+/[0-9]+)(\ =\>\ ([^ ]+))?\ .*\[not\ run\][[:space:]]*$ ]]; then
      key=${BASH_REMATCH[1]}${BASH_REMATCH[3]:+@${BASH_REMATCH[3]}}
      map[$key]=
    elif [ -n "$key" ] && [[ $clean =~ ^\ {4,}([^ ].*)$ ]]; then
      map[$key]+=${map[$key]:+; }${BASH_REMATCH[1]}
    else
      key=
    fi
  done
}

# blktests_check OUT TESTS DEV...: one ./check run of TESTS (groups or group/nnn, comma
# separated) on the DEVs; a RESULT line per result file under OUT.
blktests_check() {
  local root=/opt/blktests out=$1 tests=${2//,/ } f st name d reason excl
  shift 2
  {
    echo "TEST_DEVS=($*)"
    [ "${opt[blktests_device_only]}" = 1 ] && echo "DEVICE_ONLY=1"
    echo "TIMEOUT=${opt[blktests_timeout]}"
    excl=${opt[blktests_exclude]//,/ }
    echo "EXCLUDE=($excl)"
  } > "$root/config"
  note "blktests config:"; sed 's/^/    | /' "$root/config"
  rm -rf "$out"
  # shellcheck disable=SC2086
  (cd "$root" && ./check -o "$out" $tests) 2>&1 | tee /tmp/blktests-check.log | sed 's/^/    | /'
  local -A why=()
  blktests_skip_reasons why < <(sed 's/\x1b\[[0-9;]*m//g; s/\r//g' /tmp/blktests-check.log)
  # Every result file: OUT/<dev|nodev>/<group>/<nnn> with "status" (and "reason") lines.
  while IFS= read -r f; do
    st=$(sed -n 's/^status[[:space:]]*//p' "$f" | head -1)
    reason=$(sed -n 's/^reason[[:space:]]*//p' "$f" | head -1)
    name=${f#"$out/"}; d=${name%%/*}; name=${name#*/}
    [ "$d" = nodev ] || name="$name@$d"
    case $st in
      pass) result "blktests-$name" pass ;;
      fail) result "blktests-$name" fail "${reason:-failed}" ;;
      *) result "blktests-$name" skip "${st:-no status}${why[$name]:+: ${why[$name]}}" ;;
    esac
  done < <(find "$out" -mindepth 3 -maxdepth 3 -type f ! -name '*.*' 2>/dev/null | sort)
  [ -n "$(find "$out" -mindepth 3 -maxdepth 3 -type f ! -name '*.*' 2>/dev/null | head -1)" ] ||
    result blktests fail "./check produced no result files"
}

plan_blktests() {
  local d devs=() dms=() sectors name
  [ -x /opt/blktests/check ] || { result blktests skip "/opt/blktests not in the image"; return; }
  suite_prereqs
  # The zbd group reloads null_blk itself: a zoned_nullb=1 device would keep the module busy.
  if [ -d /sys/kernel/config/nullb/nullbZ ]; then
    note "removing nullbZ so blktests can reload null_blk"
    echo 0 > /sys/kernel/config/nullb/nullbZ/power; rmdir /sys/kernel/config/nullb/nullbZ
    modprobe -r null_blk
  fi
  for d in $(target_disks); do
    case $d in nullb*) continue ;; esac
    devs+=("/dev/$d")
  done
  blktests_check /tmp/blktests-out "${opt[blktests_groups]}" "${devs[@]}"
  [ "${opt[blktests_dm_linear]}" = 1 ] || return 0
  # zbd/007 only runs on a logical device: a dm-linear mapping of each whole zoned disk.
  modprobe dm-mod 2>/dev/null
  for d in $(target_disks); do
    is_zoned "$d" || continue
    sectors=$(cat "/sys/block/$d/size")
    name=kvmm-linear-$d
    if dmsetup create "$name" --table "0 $sectors linear /dev/$d 0" 2>&1 | sed 's/^/    | /' &&
       [ -n "$(ls "/sys/block/$d/holders/" 2>/dev/null)" ]; then
      dms+=("/dev/$(ls "/sys/block/$d/holders/" | head -1)")
    else
      result "blktests-dm-linear-$d" fail "dmsetup create of a linear mapping over $d failed"
    fi
  done
  if [ "${#dms[@]}" -gt 0 ]; then
    note "zbd/007 on ${dms[*]} (dm-linear over the zoned disks)"
    blktests_check /tmp/blktests-out-dm zbd/007 "${dms[@]}"
    for d in $(target_disks); do dmsetup remove "kvmm-linear-$d" 2>/dev/null; done
  else
    result blktests-dm-linear skip "no zoned disk to map"
  fi
}

# ------------------------------------------------------------------ plan: zonefs (zonefs-tests)
plan_zonefs() {
  local root=/opt/zonefs-tools/tests d any= log rc line sel=() t
  for t in ${opt[zonefs_tests]//,/ }; do sel+=(-t "$t"); done
  [ -x "$root/zonefs-tests.sh" ] || { result zonefs-tests skip "/opt/zonefs-tools not in the image"; return; }
  suite_prereqs
  for d in $(target_disks); do
    is_zoned "$d" || continue
    any=1
    log=/tmp/zonefs-tests-$d.log
    (cd "$root" && ./zonefs-tests.sh "${sel[@]}" -g "/tmp/zonefs-logs-$d" "/dev/$d") 2>&1 |
      sed 's/\x1b\[[0-9;]*m//g' > "$log"   # the suite colours PASS/FAIL
    rc=${PIPESTATUS[0]}
    sed 's/^/    | /' "$log"
    # Per-test lines look like "  Test 0001:  <description> ... PASS|FAIL|skip".
    # (the log is printed after the run: the suite's own output is long but useful)
    while IFS= read -r line; do
      local id st
      id=$(sed -n 's/^ *Test \([0-9]\{4\}\):.*/\1/p' <<< "$line")
      [ -n "$id" ] || continue
      st=$(awk '{print tolower($NF)}' <<< "$line")
      case $st in
        pass|passed) result "zonefs-$id@$d" pass ;;
        fail|failed) result "zonefs-$id@$d" fail "$(sed 's/^ *Test [0-9]*: *//' <<< "$line")" ;;
        *) result "zonefs-$id@$d" skip "$st" ;;
      esac
    done < <(grep -E '^ *Test [0-9]{4}:' "$log")
    line=$(grep -E '[0-9]+ / [0-9]+ tests passed' "$log" | tail -1)
    if [ "$rc" = 0 ]; then result "zonefs-tests@$d" pass "$line"
    else result "zonefs-tests@$d" fail "exit $rc: $line"; fi
  done
  [ -n "$any" ] || result zonefs-tests skip "no host-managed zoned disk"
}

# ------------------------------------------------------------------ plans: readonly, discard, zonereport
# Small host-checkable plans for the VMM's disk tests (tests/boot/disks_test.sh).
# readonly: every selected disk must refuse a direct write, also after `blockdev --setrw`
# (then only the device itself stands in the way), and must still be readable.
plan_readonly() {
  local d
  for d in $(target_disks); do
    if ! dd if="/dev/$d" of=/dev/null bs=4096 count=16 iflag=direct 2>/dev/null; then
      result "readonly-$d-read" fail "direct read failed"
    else
      result "readonly-$d-read" pass "ro=$(<"/sys/block/$d/ro")"
    fi
    if dd if=/dev/zero of="/dev/$d" bs=4096 count=1 oflag=direct conv=notrunc 2>/dev/null; then
      result "readonly-$d-write" fail "a write succeeded"
    else
      result "readonly-$d-write" pass "write refused (ro=$(<"/sys/block/$d/ro"))"
    fi
    blockdev --setrw "/dev/$d" 2>/dev/null
    if dd if=/dev/zero of="/dev/$d" bs=4096 count=1 oflag=direct conv=notrunc 2>/dev/null; then
      result "readonly-$d-device" fail "a write succeeded after blockdev --setrw"
    else
      result "readonly-$d-device" pass "the device refused the write after blockdev --setrw"
    fi
  done
}

# discard: blkdiscard the whole of every selected disk that offers discard.
plan_discard() {
  local d
  for d in $(target_disks); do
    if [ "$(sysq "$d" discard_max_bytes)" = 0 ]; then
      result "discard-$d" fail "the disk offers no discard"
    elif run blkdiscard "/dev/$d"; then
      result "discard-$d" pass "blkdiscard of $(( $(<"/sys/block/$d/size") * 512 )) bytes"
    else
      result "discard-$d" fail "blkdiscard failed"
    fi
  done
}

# zonewrite: leaves a recognizable state on every selected host-managed disk: the first three
# sequential zones are reset and get 1, 2 and 3 x 64 KiB written (implicitly open), the fourth
# is reset and finished (FULL).
plan_zonewrite() {
  local d any= starts i z
  for d in $(target_disks); do
    is_zoned "$d" || continue
    any=1
    starts=$(blkzone report "/dev/$d" | gawk '/SEQ_WRITE_REQUIRED/ && match($0, /start: 0x([0-9a-fA-F]+)/, m) {
               print strtonum("0x" m[1]) }' | head -4)
    if [ "$(wc -w <<< "$starts")" -lt 4 ]; then result "zonewrite-$d" fail "fewer than 4 sequential zones"; continue; fi
    i=0
    for z in $starts; do
      i=$((i + 1))
      blkzone reset -o "$z" -c 1 "/dev/$d" || { result "zonewrite-$d" fail "reset of zone $z failed"; continue 2; }
      if [ "$i" -le 3 ]; then
        dd if=/dev/urandom of="/dev/$d" bs=64k count="$i" seek=$((z * 512 / 65536)) oflag=direct 2>/dev/null ||
          { result "zonewrite-$d" fail "write to zone $z failed"; continue 2; }
      else
        blkzone finish -o "$z" -c 1 "/dev/$d" || { result "zonewrite-$d" fail "finish of zone $z failed"; continue 2; }
      fi
    done
    result "zonewrite-$d" pass "zones $(echo $starts): 64/128/192 KiB written, last one FULL"
  done
  [ -n "$any" ] || result zonewrite skip "no host-managed zoned disk"
}

# zonereport: no changes, one `ZONE <disk> <start> <wp> <cond>` line per zone (sectors, hex
# parsed) of every host-managed disk.
plan_zonereport() {
  local d any=
  for d in $(blockdevs); do
    is_zoned "$d" || continue
    any=1
    if blkzone report "/dev/$d" | gawk -v d="$d" '
        { s = "?"; wp = "?"; c = "?"
          if (match($0, /start: 0x([0-9a-fA-F]+)/, m)) s = strtonum("0x" m[1])
          if (match($0, /wptr 0x([0-9a-fA-F]+)/, m)) wp = strtonum("0x" m[1])
          if (match($0, /zcond: *([0-9]+)/, m)) c = m[1]
          printf "ZONE %s %d %s %s\n", d, s, wp, c }'; then
      result "zonereport-$d" pass "$(<"/sys/block/$d/queue/nr_zones") zones"
    else
      result "zonereport-$d" fail "blkzone report failed"
    fi
  done
  [ -n "$any" ] || result zonereport skip "no host-managed zoned disk"
}

# ------------------------------------------------------------------ plan: shell
plan_shell() {
  local tty
  tty=$(awk '{print $NF}' /sys/class/tty/console/active 2>/dev/null)
  [ -c "/dev/$tty" ] || tty=console
  note "interactive shell on /dev/$tty; exit it to end the VM"
  setsid -c bash -l <"/dev/$tty" >"/dev/$tty" 2>&1
  result shell pass "shell exited"
}

# More plans, one file each (guest/init/plan-*.sh, copied next to this file).
for f in /usr/lib/kvmm/plan-*.sh; do
  [ -r "$f" ] && . "$f"
done

# ------------------------------------------------------------------ main
load_modules
[ "${opt[zoned_nullb]}" = 1 ] && make_zoned_nullb
settle_disks

if [ "${opt[timeout]}" != 0 ]; then
  main_pid=$$
  ( sleep "${opt[timeout]}"
    echo "RESULT watchdog fail plans did not finish within ${opt[timeout]} s"
    : > /run/kvmm-watchdog
    echo "PLAN-DONE ${opt[plan]} $(count pass) passed, $(( $(count fail) + 1 )) failed"
    kill -TERM -- -"$main_pid" 2>/dev/null; kill -KILL "$main_pid" 2>/dev/null ) &
fi

plans=${opt[plan]//,/ }
nplans=$(wc -w <<< "$plans")
for p in $plans; do
  before_pass=$(count pass); before_fail=$(count fail)
  t0=$(cut -d' ' -f1 /proc/uptime)
  note "plan $p starting at ${t0} s"
  if declare -F "plan_$p" > /dev/null; then
    "plan_$p"
  else
    result "plan-$p" fail "unknown plan (known: $(declare -F | sed -n 's/^declare -f plan_//p' | tr '\n' ' '))"
  fi
  echo "PLAN-DONE $p $(( $(count pass) - before_pass )) passed, $(( $(count fail) - before_fail )) failed"
done
[ "$nplans" -gt 1 ] && echo "PLAN-DONE ${opt[plan]} $(count pass) passed, $(count fail) failed"
[ "$(count fail)" = 0 ]
