# Host side shared by the boot test scripts (sourced): finds the guest image and runs the
# script's own --inner part inside the KVM test host, retrying when the test host itself fails
# (status 125: its kernel occasionally oopses under TCG; TEST_HOST_ATTEMPTS, default 2).
#
#   boot_test_image            -> prints the guest image directory ($KVMM_GUEST_IMAGE or a build)
#   run_inner NAME TIMEOUT SCRIPT ARGS...   runs SCRIPT --inner ARGS... in the test host;
#                              prints the verdict and exits with the test's status
repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../.." && pwd)

host_fail() { echo "FAIL: $*" >&2; exit 1; }

. "$repo/scripts/lib/kvmm-cache.sh"  # the real user's cache, not Bazel's private HOME

boot_test_image() {
  local image
  if [ -n "${KVMM_GUEST_IMAGE:-}" ]; then
    image=$KVMM_GUEST_IMAGE
  else
    image=$("$repo/guest/build-image.sh" | tail -1) || host_fail "guest/build-image.sh failed"
  fi
  [ -f "$image/vmlinuz" ] && [ -f "$image/initrd.img" ] || host_fail "no vmlinuz/initrd.img in '$image'"
  echo "$image"
}

# run_test_hosts NAME TIMEOUT SCRIPT ARGS...: the retry loop alone; leaves the last status in
# $inner_status.
run_test_hosts() {
  local name=$1 timeout=$2 script=$3 start attempt status attempts=${TEST_HOST_ATTEMPTS:-2}
  shift 3
  start=$(date +%s)
  for attempt in $(seq 1 "$attempts"); do
    "$repo/tests/testhost/run" --timeout "$timeout" -- "$script" --inner "$@"
    status=$?
    # 125: the test host failed; 124 with RETRY_TEST_HOST_TIMEOUT=1: it stopped answering
    { [ "$status" -eq 125 ] || { [ "$status" -eq 124 ] && [ -n "${RETRY_TEST_HOST_TIMEOUT:-}" ]; }; } &&
      [ "$attempt" -lt "$attempts" ] || break
    echo "$name: the test host failed ($status); starting a new one (attempt $((attempt + 1)) of $attempts)"
  done
  echo "$name: status $status after $(( $(date +%s) - start )) s"
  inner_status=$status
}

# finish_inner STATUS: the verdict for the inner part's final status; exits.
finish_inner() {
  [ "$1" -ne 124 ] || host_fail "timed out"
  [ "$1" -ne 125 ] || host_fail "the test host could not run the VMM"
  [ "$1" -eq 0 ] || host_fail "see the FAIL lines above"
  echo "PASS"
  exit 0
}

run_inner() {
  run_test_hosts "$@"
  finish_inner "$inner_status"
}
