#!/usr/bin/env bash
# Boots the stock Debian guest image (guest/build-image.sh) under our VMM inside the KVM test
# host (tests/testhost/run) and checks that the guest reached /init with the expected CPU count,
# that the VMM reported its time-to-init, and that the VMM's exit status is the one the guest
# wrote to the test-exit port.
#
# Usage: boot_test.sh VMM_BINARY SMP PLAN EXPECTED_STATUS [EXTRA_VMM_ARGS...]
#   PLAN=boot expects status 0 and "PLAN-DONE boot 1 passed"; PLAN=bogus expects the guest's
#   failure status (1) to come back as ours.
# A test host failure (status 125: nested SVM under TCG occasionally oopses the outer kernel,
# see docs/test-host.md) is retried once; it says nothing about the VMM.
set -uo pipefail

vmm=$(readlink -f "$1") smp=$2 plan=$3 expected=$4
shift 4
extra=("$@")
here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$repo/scripts/lib/kvmm-cache.sh"  # the real user's cache, not Bazel's private HOME

fail() { echo "FAIL: $*" >&2; exit 1; }

[ -x "$vmm" ] || fail "VMM binary '$1' not found"
image=$("$repo/guest/build-image.sh" | tail -1) || fail "guest/build-image.sh failed"
[ -f "$image/vmlinuz" ] && [ -f "$image/initrd.img" ] || fail "no vmlinuz/initrd.img in '$image'"

out=$(mktemp); trap 'rm -f "$out"' EXIT
for attempt in 1 2; do
  start=$(date +%s.%N)
  "$repo/tests/testhost/run" --timeout 600 -- "$vmm" -m 1G -smp "$smp" -nographic \
    -kernel "$image/vmlinuz" -initrd "$image/initrd.img" -serial stdio "${extra[@]}" \
    -append "console=ttyS0 quiet plan=$plan reboot=k panic=-1" > "$out" 2>&1
  status=$?
  [ "$status" -eq 125 ] && [ "$attempt" -eq 1 ] || break
  cat "$out"
  echo "boot_test: the test host failed (125); retrying once"
done
tr -d '\r' < "$out" > "$out.clean" && mv "$out.clean" "$out"
cat "$out"
echo "boot_test: smp=$smp plan=$plan ${extra[*]}: status $status after $(echo "$(date +%s.%N) - $start" | bc) s"

[ "$status" -ne 124 ] || fail "timed out"
[ "$status" -ne 125 ] || fail "the test host could not run the VMM"
grep -Eq '^vmm: guest init reached after [0-9]+ ms$' "$out" || fail "no time-to-init line from the VMM"
guest_status=$(sed -n 's/^KVMM-EXIT \([0-9]\+\)$/\1/p' "$out" | tail -1)
[ -n "$guest_status" ] || fail "the guest init never reported its exit status"
[ "$status" -eq "$guest_status" ] || fail "VMM exited with $status, the guest wrote $guest_status"
[ "$status" -eq "$expected" ] || fail "exit status $status, expected $expected"
if [ "$plan" = boot ]; then
  grep -Eq "^INFO cpus $smp " "$out" || fail "the guest does not see $smp CPU(s)"
  grep -q '^PLAN-DONE boot 1 passed, 0 failed$' "$out" || fail "boot plan did not pass"
fi
echo "PASS"
