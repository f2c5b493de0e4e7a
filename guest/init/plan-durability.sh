# Durability plans of the kvmm guest (sourced by plans.sh; conventions there).

# crash: the guest side of tests/boot/crash_test.sh. Options:
#   crash_gen=G        generation this boot writes (default 1)
#   crash_durable=N    records of generation G-1 the host saw announced durable on every plain
#                      disk in the previous boot: they must all be intact (0: nothing to check)
#   crash_batch=B      records between two fsyncs (default 8)
#   crash_write=1      then write until the host kills the VM (0: only check, then finish)
# Plain disks: records 0,1,2,... of generation G; "<disk> DURABLE <n>" after each completed fsync.
# Zoned disks: every record below the first sequential zone's write pointer must be intact
# ("<disk> ZWP <records>"), then records are appended ("<disk> ZDURABLE <records>").
# The -drive serial= of a disk: virtio has /sys/block/vdX/serial; for SATA/PATA disks libata
# answers SCSI VPD page 0x80 from IDENTIFY's serial (4-byte header, then space-padded ASCII).
disk_serial() {
  cat "/sys/block/$1/serial" 2>/dev/null ||
    tail -c +5 "/sys/block/$1/device/vpd_pg80" 2>/dev/null | tr -d ' \0'
}

plan_crash() {
  local gen=${opt[crash_gen]:-1} prev=${opt[crash_durable]:-0} batch=${opt[crash_batch]:-8}
  local write=${opt[crash_write]:-1} d line writers=0
  for d in $(target_disks); do
    echo "CRASH-DISK $d $(disk_serial "$d")"
  done
  for d in $(target_disks); do
    if is_zoned "$d"; then
      [ "$write" = 1 ] && continue   # zwrite checks below the write pointer itself
      line=$(kvmm-crashwriter zverify "/dev/$d" "$gen" - 2>&1)
      echo "$d $line"
      case $line in
        ZWP*) result "crash-zverify-$d" pass "$line" ;;
        *) result "crash-zverify-$d" fail "$line" ;;
      esac
    elif [ "$prev" -gt 0 ]; then
      line=$(kvmm-crashwriter verify "/dev/$d" $((gen - 1)) "$prev" 2>&1)
      echo "$d $line"
      case $line in
        "CRASH-VERIFY ok"*) result "crash-verify-$d" pass "$prev records of generation $((gen - 1))" ;;
        *) result "crash-verify-$d" fail "$line" ;;
      esac
    fi
  done
  [ "$write" = 1 ] || return 0
  # Before the first write: a boot that dies without this line has not touched the disks, so
  # the host may simply run it again (tests/boot/crash_test.sh).
  echo "CRASH-WRITING"
  for d in $(target_disks); do
    local mode=write
    is_zoned "$d" && mode=zwrite
    # The prefix loop is all builtins: each line reaches the console as soon as it is printed.
    ( kvmm-crashwriter "$mode" "/dev/$d" "$gen" "$batch" 2>&1 |
        while IFS= read -r line; do echo "$d $line"; done ) &
    writers=$((writers + 1))
  done
  echo "CRASH-WRITERS $writers"
  wait   # until the host kills the VM
  result crash-write fail "the writers stopped before the host killed the VM"
}

# wcache: the guest switches every disk's write cache off and on again through sysfs (virtio:
# cache_type, which writes CONFIG_WCE; SCSI/ATA: scsi_disk cache_type, which libata turns into
# SET FEATURES 82h/02h) and checks the kernel saw each change (also in queue/write_cache). The host checks that the VMM
# reported both changes per disk.
plan_wcache() {
  local d f before
  for d in $(target_disks); do
    # virtio_blk: /sys/block/vdX/cache_type writes CONFIG_WCE (queue/write_cache only flips the
    # block layer's flag and never reaches the device, so it cannot change the host's policy).
    if [ "${d#vd}" != "$d" ]; then
      f=/sys/block/$d/cache_type
    else
      f=$(ls -d /sys/block/"$d"/device/scsi_disk/*/cache_type 2>/dev/null | head -1)
    fi
    [ -n "$f" ] && [ -e "$f" ] || { result "wcache-$d" fail "no write cache control in sysfs"; continue; }
    before=$(<"$f")
    echo "WCACHE $d before '$before'"
    if ! echo "write through" > "$f" 2>/dev/null; then
      result "wcache-$d" fail "cannot write 'write through' to $f"; continue
    fi
    echo "WCACHE $d off '$(<"$f")' queue/write_cache '$(sysq "$d" write_cache)'"
    if [ "$(sysq "$d" write_cache)" != "write through" ]; then
      result "wcache-$d" fail "queue/write_cache did not follow: '$(sysq "$d" write_cache)'"; continue
    fi
    # Some I/O while write-through, then back on and a flush.
    dd if=/dev/urandom of="/dev/$d" bs=4096 count=16 oflag=direct conv=notrunc 2>/dev/null
    if ! echo "write back" > "$f" 2>/dev/null; then
      result "wcache-$d" fail "cannot write 'write back' to $f"; continue
    fi
    echo "WCACHE $d on '$(<"$f")'"
    dd if=/dev/urandom of="/dev/$d" bs=4096 count=16 oflag=direct conv=notrunc,fsync 2>/dev/null
    case "$(<"$f")" in
      "write back") result "wcache-$d" pass "$before -> write through -> write back" ;;
      *) result "wcache-$d" fail "$f reads '$(<"$f")' after 'write back'" ;;
    esac
  done
}
