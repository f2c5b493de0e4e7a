#!/usr/bin/env bash
# Third-party in-guest suites on OUR disks: blktests and zonefs-tests run by the guest image's
# plans (guest/init/plans.sh plan_blktests / plan_zonefs) under our VMM, inside the KVM test host
# (tests/testhost/run). Results and timings: docs/guest-suites-results.md.
#
# Usage: suites_test.sh VMM_BINARY SCENARIO...
#   virtio       blktests block group (device tests) on a virtio-blk disk (discard=unmap), -smp 2:
#                block/003 004 005 007 008 011 012 042 must pass
#   ata          blktests block + scsi groups on an AHCI disk (sda) and a PIIX IDE disk (sdb),
#                -smp 2: block/004 005 007 008 011 012 042 and scsi/001 002 006 must pass on both
#   zoned        blktests zbd + block groups on our zoned virtio-blk disk (512 MiB, zoned=on,
#                zone_size=4M: 128 zones, 4 conventional, max open 8, max active 12; 4 MiB
#                rather than the default 16 MiB because zbd/004 fills a zone with one
#                synchronous 512-byte write per sector: 296 s for a 16 MiB zone under TCG):
#                zbd/001-006 must pass ON vda (not on blktests' null_blk fallback),
#                block/004 005 008 011 (the CAN_BE_ZONED ones), and zbd/007 on dm-0, a
#                dm-linear mapping of vda the plan creates (the test needs a logical device)
#   zonefs       a subset of zonefs-tests on a zoned disk with the default geometry (512 MiB:
#                32 x 16 MiB zones, 4 conventional, max open 8, max active 12): ZONEFS_SUBSET
#   zonefs-full  every zonefs-tests case on the same disk (> 10 min under TCG: manual target)
#
# The suites are not in the repository and the tests cannot download them: give checkouts with
#   bazel test --test_env=KVMM_BLKTESTS_DIR=/path/blktests \
#              --test_env=KVMM_ZONEFS_TOOLS_DIR=/path/zonefs-tools //tests/boot:suites_virtio_test
# (upstream: github.com/linux-blktests/blktests, github.com/westerndigitalcorporation/zonefs-tools).
# A scenario whose checkout is not given is SKIPPED: a clear message and exit status 0 (Bazel 4
# has no "skipped" test status). guest/build-image.sh builds them into the image (cached).
# Every scenario also requires the VMM's exit status to be the guest's (0 = all passed), no
# failing RESULT line, and the expected passes above. A test host failure (125) is retried once.
set -uo pipefail

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
# zonefs-tests cases of the regular run (29 of 113): mkzonefs and mount (0001-0004), file
# layout and sizes (0020-0045), conventional file I/O (0200-0203), sequential file writes,
# truncates and errors (0300-0307, incl. the unaligned-write refusals 0304/0305), explicit-open
# zone resources (0312: OPEN and the max_open_zones limit), and writes behind zonefs's back,
# which need the device to refuse writes not at the write pointer (0600-0601). Left out: the
# zone-filling 0309-0311 (4K synchronous writes over a whole zone) and the rest: zonefs-full.
ZONEFS_SUBSET=0001-0004,0020-0023,0040-0045,0200-0203,0300-0307,0312,0600-0601

# ---------------------------------------------------------------- inside the test host
if [ "${1:-}" = --inner ]; then
  shift
  vmm=$1 image=$2
  shift 2
  work=$(mktemp -d /tmp/suites.XXXXXX)
  failures=0
  note() { echo "suites_test: $*"; }
  bad() { echo "FAIL [$scenario]: $*"; failures=$((failures + 1)); }

  # boot LOG SMP LIMIT APPEND [VMM ARGS...]: one inner guest boot; sets $status and $secs.
  boot() {
    local log=$1 smp=$2 limit=$3 append=$4 t0 t1
    shift 4
    t0=$(date +%s)
    # SIGTERM after LIMIT s (the VMM exits with 143, the console so far stays in the log).
    timeout "$limit" "$vmm" -m 1G -smp "$smp" -no-acpi -nographic -serial stdio \
      -kernel "$image/vmlinuz" -initrd "$image/initrd.img" "$@" \
      -append "console=ttyS0 quiet reboot=k panic=-1 timeout=$((limit - 30)) $append" \
      < /dev/null 2>&1 | tr -d '\r' > "$log"
    status=${PIPESTATUS[0]}
    t1=$(date +%s)
    secs=$((t1 - t0))
    sed 's/^/    /' "$log"
    note "[$scenario] VMM status $status after ${secs} s"
  }
  check_boot() {  # log plan
    [ "$status" -eq 0 ] || bad "VMM exited with $status (expected 0)"
    grep -Eq "^PLAN-DONE $2 [0-9]+ passed, 0 failed\$" "$1" || bad "plan $2 did not pass"
    if grep -E '^RESULT [^ ]+ fail' "$1"; then bad "failing RESULT lines (above)"; fi
  }
  expect_pass() {  # log name...
    local log=$1 r
    shift
    for r in "$@"; do grep -Eq "^RESULT $r pass( |\$)" "$log" || bad "no 'RESULT $r pass'"; done
  }
  summary() {  # log: one line per RESULT status
    note "[$scenario] $(grep -c '^RESULT [^ ]* pass' "$1") passed, $(grep -c '^RESULT [^ ]* skip' "$1") skipped, $(grep -c '^RESULT [^ ]* fail' "$1") failed in ${secs} s"
  }

  # (tests/testhost/run holds KVM's static keys for the whole run: see kvm_key_holder.py there)

  for scenario in "$@"; do
    note "---- scenario $scenario"
    log=$work/$scenario.log
    case $scenario in
      virtio)
        truncate -s 256M "$work/v.img"
        boot "$log" 2 900 "plan=blktests blktests_groups=block" \
          -drive "file=$work/v.img,if=virtio,format=raw,discard=unmap"
        check_boot "$log" blktests
        for t in 003 004 005 007 008 011 012 042; do expect_pass "$log" "blktests-block/$t@vda"; done
        summary "$log"
        rm -f "$work/v.img"
        ;;
      ata)
        truncate -s 256M "$work/a.img"; truncate -s 256M "$work/i.img"
        boot "$log" 2 1200 "plan=blktests blktests_groups=block,scsi" \
          -drive "file=$work/a.img,if=ahci,format=raw" -drive "file=$work/i.img,if=ide,format=raw"
        check_boot "$log" blktests
        for d in sda sdb; do
          for t in block/004 block/005 block/007 block/008 block/011 block/012 block/042 \
                   scsi/001 scsi/002 scsi/006; do
            expect_pass "$log" "blktests-$t@$d"
          done
        done
        summary "$log"
        rm -f "$work/a.img" "$work/i.img"
        ;;
      zoned)
        truncate -s 512M "$work/z.img"
        boot "$log" 2 900 "plan=blktests blktests_groups=zbd,block blktests_dm_linear=1" \
          -drive "file=$work/z.img,if=virtio,format=raw,zoned=on,zone_size=4M"
        check_boot "$log" blktests
        for t in 001 002 003 004 005 006; do
          expect_pass "$log" "blktests-zbd/$t@vda"
          grep -Eq "zbd/$t => vda .*\[passed\]" "$log" || bad "zbd/$t did not run on vda"
        done
        if grep -E 'zbd/[0-9]+ => nullb' "$log"; then bad "zbd ran on null_blk (above)"; fi
        # zbd/007 needs a logical device: the plan maps vda with dm-linear (dm-0).
        expect_pass "$log" "blktests-zbd/007@dm-0"
        for t in 004 005 008 011; do expect_pass "$log" "blktests-block/$t@vda"; done
        summary "$log"
        rm -f "$work"/z.img*
        ;;
      zonefs|zonefs-full)
        truncate -s 512M "$work/z.img"
        sel="zonefs_tests=$ZONEFS_SUBSET" limit=1200
        [ "$scenario" = zonefs ] || { sel= limit=3300; }
        boot "$log" 2 "$limit" "plan=zonefs $sel" \
          -drive "file=$work/z.img,if=virtio,format=raw,zoned=on"
        check_boot "$log" zonefs
        expect_pass "$log" zonefs-tests@vda
        grep -E '^RESULT zonefs-tests@vda' "$log"
        n=$(grep -Ec '^RESULT zonefs-[0-9]{4}@vda pass' "$log")
        [ "$n" -ge 20 ] || bad "only $n zonefs-tests cases passed"
        summary "$log"
        rm -f "$work"/z.img*
        ;;
      *) bad "unknown scenario '$scenario'" ;;
    esac
  done
  rm -rf "$work"
  [ "$failures" -eq 0 ] && { echo "suites_test: all scenarios passed: $*"; exit 0; }
  echo "suites_test: $failures check(s) failed"
  exit 1
fi

# ---------------------------------------------------------------- on the host
fail() { echo "FAIL: $*" >&2; exit 1; }
vmm=$(readlink -f "$1")
shift
[ -x "$vmm" ] || fail "VMM binary not found"
repo=$(cd "$here/../.." && pwd)
. "$repo/scripts/lib/kvmm-cache.sh"

# Which checkouts the scenarios need; a scenario without its checkout is skipped.
blktests=${KVMM_BLKTESTS_DIR:-} zonefs_tools=${KVMM_ZONEFS_TOOLS_DIR:-}
checkout_ok() {  # dir file-that-must-exist
  [ -n "$1" ] && [ -f "$1/$2" ]
}
if [ -n "$blktests" ] && ! checkout_ok "$blktests" check; then
  fail "KVMM_BLKTESTS_DIR=$blktests is not a blktests checkout (no ./check)"
fi
if [ -n "$zonefs_tools" ] && ! checkout_ok "$zonefs_tools" tests/zonefs-tests.sh; then
  fail "KVMM_ZONEFS_TOOLS_DIR=$zonefs_tools is not a zonefs-tools checkout (no tests/zonefs-tests.sh)"
fi
run=() skipped=()
for s in "$@"; do
  case $s in
    virtio|ata|zoned) if [ -n "$blktests" ]; then run+=("$s"); else skipped+=("$s"); fi ;;
    zonefs|zonefs-full) if [ -n "$zonefs_tools" ]; then run+=("$s"); else skipped+=("$s"); fi ;;
    *) fail "unknown scenario '$s'" ;;
  esac
done
for s in "${skipped[@]}"; do
  case $s in zonefs*) v=KVMM_ZONEFS_TOOLS_DIR w=zonefs-tools ;; *) v=KVMM_BLKTESTS_DIR w=blktests ;; esac
  echo "SKIPPED: scenario '$s' needs a $w checkout: bazel test --test_env=$v=/path/to/$w ..." \
       "(tests cannot download it; see docs/guest-suites-results.md)"
done
if [ "${#run[@]}" -eq 0 ]; then
  echo "SKIPPED: nothing to run (no suite checkouts given); counted as a pass"
  exit 0
fi

# The guest image with the suites in it (built on the host from the checkouts; cached).
if [ -n "${KVMM_GUEST_IMAGE:-}" ] &&
   { [ -z "$blktests" ] || grep -q '^blktests: ' "$KVMM_GUEST_IMAGE/manifest.txt" 2>/dev/null; } &&
   { [ -z "$zonefs_tools" ] || grep -q '^zonefs-tools: ' "$KVMM_GUEST_IMAGE/manifest.txt" 2>/dev/null; }; then
  image=$KVMM_GUEST_IMAGE
else
  image=$(BLKTESTS_DIR=$blktests ZONEFS_TOOLS_DIR=$zonefs_tools "$repo/guest/build-image.sh" |
          tail -1) || fail "guest/build-image.sh failed"
fi
[ -f "$image/vmlinuz" ] && [ -f "$image/initrd.img" ] || fail "no vmlinuz/initrd.img in '$image'"
# Other engineers' image builds prune the cache (guest/build-image.sh keeps the newest 3), which
# deleted an image under a running test here: boot from hard links (or copies) in a private
# directory the test host can see ($TEST_TMPDIR, in Bazel's output base; else $KVMM_CACHE).
snap=$(mktemp -d "${TEST_TMPDIR:-$KVMM_CACHE}/suites-image.XXXXXX") || fail "mktemp failed"
trap 'rm -rf "$snap"' EXIT
for f in vmlinuz initrd.img manifest.txt; do
  ln "$image/$f" "$snap/$f" 2> /dev/null || cp "$image/$f" "$snap/$f" || fail "cannot copy $image/$f"
done
image=$snap
script=$(readlink -f "${BASH_SOURCE[0]}")

. "$here/lib/host_side.sh"
run_inner "suites_test: scenarios '${run[*]}'" 3500 "$script" "$vmm" "$image" "${run[@]}"
