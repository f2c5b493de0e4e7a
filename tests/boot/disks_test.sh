#!/usr/bin/env bash
# Disk boot tests: the stock Debian guest image (guest/build-image.sh) under our VMM with -drive
# disks (virtio-blk, zoned virtio-blk, AHCI, IDE), inside the KVM test host (tests/testhost/run).
# The outer test-host VM boots ONCE and runs every named scenario in it (one or two inner guest
# boots each); disk images live on the outer VM's /tmp tmpfs.
#
# Usage: disks_test.sh VMM_BINARY SCENARIO...
#   four        virtio (cache=none) + zoned virtio + AHCI + IDE, plan=boot,fio,zoned: DISK lines
#               show vda (not zoned), vdb (host-managed), sda, sdb; every RESULT passes
#   cache       five virtio disks, cache=none/writethrough/writeback/unsafe/directsync, each with
#               num-queues=2 under -smp 2 (the guest must see 2 hardware queues), plan=boot,fio
#   readonly    readonly=on virtio, AHCI and IDE disks refuse writes (also after blockdev
#               --setrw, i.e. the device itself refuses); virtio shows ro=1; images unchanged
#   discard     discard=unmap virtio disk full of data, blkdiscard in the guest: the host file's
#               allocated blocks drop
#   acpi        ACPI tables on (the other scenarios use -no-acpi), no guest options: the guest
#               finds the disks through the DSDT's PCI0 and routes IRQs by ACPI (legacy IRQs
#               14/15 for IDE, _PRT links for INTx): virtio + AHCI + IDE found and fio passes on
#               each; the guest then powers off through ACPI (S5) and the VMM exits with 0
#   zoned       zoned persistence: boot 1 writes zones (fio zonemode=zbd), boot 2 on the same file
#               reports the same write pointers (plan=zonereport, read-only in the guest)
#   wcache      the guest turns the write cache of a virtio, an AHCI and an IDE disk off and on
#               (sysfs); the VMM reports both changes of the host policy for each disk
#   fioloop     the demo's stalled job (fio sequential io_uring writes, depth 16) repeated on IDE,
#               AHCI and virtio disks under -smp 2 (KVMM_FIOLOOP_COUNT runs each, default 5);
#               a guest without progress for 180 s is stopped with the VMM's state dump
#   passthrough a zoned null_blk device of the test host (64 x 16 MiB zones, 2 conventional,
#               max open 8 / active 12) as -drive file=/dev/nullb0,zoned=on: the guest sees the
#               device's geometry and limits, the whole zoned plan passes (incl. zoned btrfs, whose
#               ZONE APPENDs the VMM emulates with writes, without a single I/O error), and the
#               zones the guest then writes (zonewrite) are on the device as the guest reported
#               them. Needs the TCG test host (it loads null_blk from the test host's kernel
#               package, $TESTHOST_KERNEL_ROOT).
# The guest image comes from $KVMM_GUEST_IMAGE (bazel test --test_env=KVMM_GUEST_IMAGE=DIR), or
# from guest/build-image.sh. Every scenario also requires the VMM's exit status to be the guest's
# (0 = all passed). A test host failure (status 125) is retried once.
set -uo pipefail

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)

# ---------------------------------------------------------------- inside the test host
if [ "${1:-}" = --inner ]; then
  shift
  vmm=$1 image=$2
  shift 2
  work=$(mktemp -d /tmp/disks.XXXXXX)
  failures=0
  note() { echo "disks_test: $*"; }
  bad() { echo "FAIL [$scenario]: $*"; failures=$((failures + 1)); }

  # boot LOG PLAN [VMM ARGS...]: one inner guest boot, console to LOG; sets $status and $secs.
  boot() {
    local log=$1 plan=$2 t0 t1
    shift 2
    t0=$(date +%s%N)
    # A hung inner boot must not eat the whole budget: SIGTERM (the VMM exits cleanly with
    # 143 and the console so far stays in the log) after 400 s; the slowest boot takes ~110 s.
    # With $guard set, a guest that prints no progress line for that many seconds is stopped
    # at once (the VMM dumps its vCPU and controller state: tests/boot/lib/progress_guard.sh).
    local guard_cmd=()
    [ -n "${guard:-}" ] && guard_cmd=("$here/lib/progress_guard.sh" "$guard" '^[A-Za-z]')
    timeout "${boot_timeout:-400}" "${guard_cmd[@]}" "$vmm" -m 1G -smp "${smp:-1}" -nographic $acpi_flag -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
      -serial stdio "$@" \
      -append "console=ttyS0 quiet plan=$plan reboot=k panic=-1 timeout=$(( ${boot_timeout:-400} + 100 )) $extra_append" \
      < /dev/null 2>&1 | tr -d '\r' > "$log"
    status=${PIPESTATUS[0]}
    t1=$(date +%s%N)
    secs=$(( (t1 - t0) / 1000000000 ))
    sed 's/^/    /' "$log"
    note "[$scenario] plan=$plan: VMM status $status after ${secs} s"
  }
  # Common checks of one boot's log: status 0, PLAN-DONE with 0 failed, no failing RESULT.
  check_boot() {  # log plan [exit line the VMM must print]
    local log=$1 plan=$2 exit_line=${3:-'vmm: exiting with status 0: guest wrote 0 to port 0xf4'}
    [ "$status" -eq 0 ] || bad "VMM exited with $status (expected 0)"
    grep -qxF "$exit_line" "$log" || bad "no '$exit_line' line from the VMM"
    grep -qx 'KVMM-EXIT 0' "$log" || bad "the guest's init did not end with status 0"
    grep -Eq "^PLAN-DONE $plan [0-9]+ passed, 0 failed\$" "$log" || bad "plan $plan did not pass"
    if grep -E '^RESULT [^ ]+ fail' "$log"; then bad "failing RESULT lines (above)"; fi
  }
  expect_result() {  # log name
    grep -Eq "^RESULT $2 pass" "$1" || bad "no 'RESULT $2 pass'"
  }
  disk_line() { sed -n "s/^DISK $2 //p" "$1"; }

  for scenario in "$@"; do
    note "---- scenario $scenario"
    # Without ACPI the guest finds PCI through the MP table; with ACPI through the DSDT's PCI0.
    acpi_flag=-no-acpi extra_append=
    case $scenario in
      acpi)
        acpi_flag= extra_append="fio_size=2M kvmm_end=poweroff"
        truncate -s 64M "$work/a-vd.img"; truncate -s 64M "$work/a-sd.img"
        truncate -s 64M "$work/a-hd.img"
        boot "$work/acpi.log" boot,fio \
          -drive "file=$work/a-vd.img,if=virtio,format=raw" \
          -drive "file=$work/a-sd.img,if=ahci,format=raw" \
          -drive "file=$work/a-hd.img,if=ide,format=raw"
        check_boot "$work/acpi.log" boot,fio 'vmm: exiting with status 0: guest powered off (ACPI S5)'
        grep -q '^INFO ioports-acpi .*ACPI PM_TMR' "$work/acpi.log" || bad "the guest did not reserve the ACPI PM timer"
        grep -Eq '^INFO irqs .*14:ata_piix 15:ata_piix' "$work/acpi.log" || bad "ata_piix did not get IRQs 14 and 15"
        grep -E 'ACPI (BIOS )?Error|probe .* failed' "$work/acpi.log" && bad "ACPI errors or failed probes (above)"
        for d in vda sda sdb; do
          [ -n "$(disk_line "$work/acpi.log" $d)" ] || bad "no DISK line for $d"
          expect_result "$work/acpi.log" "fio-$d-libaio-randwrite"
        done
        rm -f "$work"/a-*.img
        ;;
      four)
        truncate -s 256M "$work/vda.img"; truncate -s 512M "$work/zoned.img"
        truncate -s 128M "$work/sda.img"; truncate -s 128M "$work/sdb.img"
        boot "$work/four.log" boot,fio,zoned \
          -drive "file=$work/vda.img,if=virtio,format=raw,cache=none,serial=vda-serial" \
          -drive "file=$work/zoned.img,if=virtio,format=raw,zoned=on" \
          -drive "file=$work/sda.img,if=ahci,format=raw" \
          -drive "file=$work/sdb.img,if=ide,format=raw"
        log=$work/four.log
        check_boot "$log" boot,fio,zoned
        disk_line "$log" vda | grep -q '^size=268435456 .*zoned=none ' || bad "vda: $(disk_line "$log" vda)"
        disk_line "$log" vdb | grep -q '^size=536870912 .*zoned=host-managed nr_zones=32 ' ||
          bad "vdb: $(disk_line "$log" vdb)"
        disk_line "$log" sda | grep -q '^size=134217728 .*zoned=none ' || bad "sda: $(disk_line "$log" sda)"
        disk_line "$log" sdb | grep -q '^size=134217728 .*zoned=none ' || bad "sdb: $(disk_line "$log" sdb)"
        for r in boot fio-vda-io_uring-write fio-vda-discard fio-sda-libaio-randwrite \
                 fio-sdb-libaio-randwrite zoned-vdb-reset-all zoned-vdb-fio-rand-write \
                 zoned-vdb-zonefs; do
          expect_result "$log" "$r"
        done
        [ -s "$work/zoned.img.zones" ] || bad "no zone metadata sidecar next to the zoned image"
        rm -f "$work"/vda.img "$work"/zoned.img* "$work"/sda.img "$work"/sdb.img
        ;;
      cache)
        # Two vCPUs and two request queues per disk: the guest spreads I/O over both queues.
        args=()
        for mode in none writethrough writeback unsafe directsync; do
          truncate -s 64M "$work/$mode.img"
          args+=(-drive "file=$work/$mode.img,if=virtio,format=raw,cache=$mode,num-queues=2")
        done
        smp=2 boot "$work/cache.log" boot,fio "${args[@]}"
        check_boot "$work/cache.log" boot,fio
        for d in vda vdb vdc vdd vde; do
          disk_line "$work/cache.log" $d | grep -q ' hw_queues=2 ' ||
            bad "$d: expected 2 hardware queues: $(disk_line "$work/cache.log" $d)"
        done
        for d in vda vdb vdc vdd vde; do
          for r in psync-randwrite libaio-randwrite io_uring-write; do
            expect_result "$work/cache.log" "fio-$d-$r"
          done
        done
        rm -f "$work"/*.img
        ;;
      readonly)
        for i in virtio ahci ide; do head -c 4M /dev/urandom > "$work/ro-$i.img"; done
        sum_before=$(cat "$work"/ro-*.img | md5sum)
        boot "$work/ro.log" boot,readonly \
          -drive "file=$work/ro-virtio.img,if=virtio,format=raw,readonly=on" \
          -drive "file=$work/ro-ahci.img,if=ahci,format=raw,readonly=on" \
          -drive "file=$work/ro-ide.img,if=ide,format=raw,readonly=on"
        check_boot "$work/ro.log" boot,readonly
        disk_line "$work/ro.log" vda | grep -q ' ro=1 ' || bad "vda is not read-only in the guest"
        for d in vda sda sdb; do
          for r in read write device; do expect_result "$work/ro.log" "readonly-$d-$r"; done
        done
        [ "$(cat "$work"/ro-*.img | md5sum)" = "$sum_before" ] || bad "a read-only image changed"
        rm -f "$work"/ro-*.img
        ;;
      discard)
        head -c 32M /dev/urandom > "$work/discard.img"
        blocks_before=$(stat -c %b "$work/discard.img")
        boot "$work/discard.log" discard \
          -drive "file=$work/discard.img,if=virtio,format=raw,discard=unmap,cache=none"
        check_boot "$work/discard.log" discard
        expect_result "$work/discard.log" discard-vda
        blocks_after=$(stat -c %b "$work/discard.img")
        note "[discard] allocated 512-byte blocks: $blocks_before before, $blocks_after after"
        [ "$blocks_after" -lt $((blocks_before / 4)) ] ||
          bad "discard=unmap did not punch holes ($blocks_before -> $blocks_after blocks)"
        [ "$(stat -c %s "$work/discard.img")" = 33554432 ] || bad "the image size changed"
        rm -f "$work/discard.img"
        ;;
      zoned)
        truncate -s 512M "$work/z.img"   # default geometry: 32 zones of 16 MiB, 4 conventional
        zopts="if=virtio,format=raw,zoned=on"
        # Boot 1: zonewrite leaves 64/128/192 KiB in three zones and one FULL zone; zonereport
        # prints the state. (Scenario four runs the full zoned plan.)
        boot "$work/z1.log" zonewrite,zonereport -drive "file=$work/z.img,$zopts"
        check_boot "$work/z1.log" zonewrite,zonereport
        grep '^ZONE vda ' "$work/z1.log" > "$work/z1.zones"
        boot "$work/z2.log" zonereport -drive "file=$work/z.img,$zopts"
        check_boot "$work/z2.log" zonereport
        grep '^ZONE vda ' "$work/z2.log" > "$work/z2.zones"
        n=$(wc -l < "$work/z1.zones")
        [ "$n" -eq 32 ] || bad "first boot reported $n zones, expected 32"
        nonempty=$(awk '$5 != 1 && $5 != 0' "$work/z1.zones" | wc -l)
        note "[zoned] $nonempty of $n zones not EMPTY after the first boot"
        [ "$nonempty" -eq 4 ] || bad "expected 4 written zones after zonewrite, found $nonempty"
        # Write pointers (relative, sectors) 128, 256, 384 in three zones, and one FULL (14).
        for wp in 128 256 384; do
          grep -Eq "^ZONE vda [0-9]+ $wp [23]\$" "$work/z1.zones" || bad "no open zone with wp $wp"
        done
        grep -Eq '^ZONE vda [0-9]+ [0-9]+ 14$' "$work/z1.zones" || bad "no FULL zone"
        # Open zones come back CLOSED after a restart (cond 2/3 -> 4): compare write pointers,
        # and conditions with open mapped to closed.
        norm() { awk '{c = $5; if (c == 2 || c == 3) c = 4; print $2, $3, $4, c}' "$1"; }
        if ! diff <(norm "$work/z1.zones") <(norm "$work/z2.zones"); then
          bad "zone write pointers/conditions differ between the two boots (diff above)"
        fi
        rm -f "$work"/z.img*
        ;;
      wcache)
        # The guest switches each disk's write cache off and on (virtio CONFIG_WCE through
        # queue/write_cache; AHCI and IDE through scsi_disk cache_type -> SET FEATURES 82h/02h);
        # the VMM reports each change of the host policy.
        for i in virtio ahci ide; do truncate -s 16M "$work/wc-$i.img"; done
        boot "$work/wc.log" wcache \
          -drive "file=$work/wc-virtio.img,if=virtio,format=raw,cache=writeback" \
          -drive "file=$work/wc-ahci.img,if=ahci,format=raw,cache=writeback" \
          -drive "file=$work/wc-ide.img,if=ide,format=raw,cache=none"
        check_boot "$work/wc.log" wcache
        for d in vda sda sdb; do expect_result "$work/wc.log" "wcache-$d"; done
        for i in virtio ahci ide; do
          for state in "off (writethrough" "on (writeback"; do
            grep -q "^vmm: -drive file=$work/wc-$i.img: guest turned the write cache $state" "$work/wc.log" ||
              bad "$i: the VMM did not report the guest turning the write cache ${state%% *}"
          done
        done
        rm -f "$work"/wc-*.img
        ;;
      passthrough)
        nullb=/dev/nullb0
        if [ "${TESTHOST_INSIDE:-}" != tcg-nested ]; then
          note "[passthrough] SKIPPED: loads null_blk, which only the TCG test host allows (not ${TESTHOST_INSIDE:-direct})"
          continue
        fi
        kmods=${TESTHOST_KERNEL_ROOT:-}/usr/lib/modules/$(uname -r)/kernel
        [ -d "$kmods" ] || { bad "no modules of the running kernel under '$kmods' (TESTHOST_KERNEL_ROOT)"; continue; }
        for m in fs/configfs/configfs drivers/block/null_blk/null_blk; do
          xz -dcf < "$kmods/$m.ko.xz" > "$work/${m##*/}.ko" || bad "cannot unpack $m.ko.xz"
        done
        [ -e /sys/module/configfs ] || busybox insmod "$work/configfs.ko" || bad "insmod configfs"
        # 1 GiB of memory-backed zones, 4 KiB blocks, limits like a small ZNS/SMR device.
        busybox insmod "$work/null_blk.ko" nr_devices=1 zoned=1 zone_size=16 zone_nr_conv=2 gb=1 \
          memory_backed=1 zone_max_open=8 zone_max_active=12 bs=4096 || bad "insmod null_blk (zoned)"
        [ "$(cat /sys/block/nullb0/queue/zoned 2>/dev/null)" = host-managed ] || {
          bad "$nullb is not a host-managed zoned device"; continue; }
        boot "$work/pt.log" boot,zoned,zonewrite,zonereport \
          -drive "file=$nullb,if=virtio,format=raw,zoned=on,cache=none"
        log=$work/pt.log
        check_boot "$log" boot,zoned,zonewrite,zonereport
        grep -q '^INFO vda zoned host-managed nr_zones=64 zone_sectors=32768 max_open=8 max_active=12 ' "$log" ||
          bad "the guest does not see the device's geometry: $(grep '^INFO vda zoned' "$log")"
        for r in reset write-implicit-open write-not-at-wp close open finish reset-full reset-all \
                 fio-seq-write fio-rand-write zonefs btrfs; do
          expect_result "$log" "zoned-vda-$r"
        done
        grep 'I/O error, dev vda' "$log" | grep -v 'op 0x1:(WRITE)' &&
          bad "I/O errors other than the plan's one deliberate off-write-pointer write (above)"
        # The zones zonewrite left (three partly written, one FULL), as the guest reported them
        # (start, relative write pointer, condition), against the device's own report, read by
        # the test host after the VMM exited.
        grep '^ZONE vda ' "$log" | awk '{print $3, $4, $5}' > "$work/pt.guest"
        blkzone report "$nullb" |
          sed -n 's/.*start: 0x\([0-9a-f]*\),.*wptr 0x\([0-9a-f]*\) .*zcond: *\([0-9]*\).*/\1 \2 \3/p' |
          while read -r zs zw zc; do echo "$((16#$zs)) $((16#$zw)) $zc"; done > "$work/pt.host"
        note "[passthrough] $(wc -l < "$work/pt.guest") zones in the guest's report, $(wc -l < "$work/pt.host") on the device"
        diff "$work/pt.guest" "$work/pt.host" > /dev/null || {
          diff "$work/pt.guest" "$work/pt.host" | head; bad "the guest's zone report differs from the device's (above)"; }
        rm -f "$work"/*.ko
        ;;
      fioloop)
        # The fio job that hung the demo twice on 6.12.117 (sequential io_uring writes at depth
        # 16, bs 512-64k, merged by the guest), repeated on an IDE, an AHCI and a virtio disk
        # side by side under -smp 2. KVMM_FIOLOOP_COUNT runs per disk (default 5; the issue's
        # acceptance loop used 200). A stall ends the boot within 180 s with the VMM's dump.
        truncate -s 256M "$work/l-vd.img" "$work/l-sd.img" "$work/l-hd.img"
        n=${KVMM_FIOLOOP_COUNT:-5}
        extra_append="loop_count=$n loop_job=io_uring-write fio_size=8M disks=sdb,sda,vda"
        guard=180 smp=2 boot_timeout=$((300 + 12 * n)) boot "$work/fioloop.log" boot,fioloop \
          -drive "file=$work/l-vd.img,if=virtio,format=raw,cache=none" \
          -drive "file=$work/l-sd.img,if=ahci,format=raw,cache=writeback" \
          -drive "file=$work/l-hd.img,if=ide,format=raw,cache=writethrough"
        check_boot "$work/fioloop.log" boot,fioloop
        note "[fioloop] guest $(grep -m1 '^INFO kernel ' "$work/fioloop.log" | cut -d' ' -f2-)"
        for d in sdb sda vda; do
          grep -Eq "^RESULT fioloop-$d-io_uring-write pass $n/$n runs" "$work/fioloop.log" ||
            bad "$d: not all $n runs of the io_uring write job passed"
        done
        rm -f "$work"/l-*.img
        ;;
      *) bad "unknown scenario '$scenario'" ;;
    esac
  done
  rm -rf "$work"
  [ "$failures" -eq 0 ] && { echo "disks_test: all scenarios passed: $*"; exit 0; }
  echo "disks_test: $failures check(s) failed"
  exit 1
fi

# ---------------------------------------------------------------- on the host
. "$here/lib/host_side.sh"
vmm=$(readlink -f "$1")
shift
[ -x "$vmm" ] || host_fail "VMM binary not found"
image=$(boot_test_image) || exit 1
if [[ " $* " == *" passthrough "* ]] && [ -z "${TESTHOST_KERNEL_ROOT:-}" ]; then
  # The test host boots this kernel package; the scenario loads null_blk from its modules.
  TESTHOST_KERNEL_ROOT=$("$repo/guest/fetch-kernel.sh" | tail -1) || host_fail "guest/fetch-kernel.sh failed"
  export TESTHOST_KERNEL_ROOT
fi
# The inner part must run from a path the test host can see (the host root is exported).
run_inner "disks_test: scenarios '$*'" 1500 "$(readlink -f "${BASH_SOURCE[0]}")" "$vmm" "$image" "$@"
