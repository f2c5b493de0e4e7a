#!/usr/bin/env bash
# The project's test command (the README's second command; .ci/run calls exactly this).
# Installs what is missing, builds the guest image (cached), then runs every Bazel test (unit and
# device tests natively, boot tests through the KVM test host launcher, tests/testhost/run), the
# unit/device tests again under ASan+UBSan, and a short run of every fuzzer.
# Ends with a plain `N passed, N failed` line; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/kvmm-cache.sh

if ! scripts/setup.sh; then
  echo "test: scripts/setup.sh failed: cannot install the packages the tests need" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

# Boot tests need the guest image; a failed image build fails those tests (counted below).
image=$(guest/build-image.sh | tail -n 1) || {
  echo "test: guest/build-image.sh failed; boot tests will fail" >&2
  image=
}
# Which kernel the boot tests run (trixie's current one; docs/guest-image.md, "The kernel version").
[ -n "$image" ] && echo "test: guest image $image, $(grep -m1 '^kernel:' "$image/manifest.txt" 2>/dev/null || echo 'kernel: unknown')"

# Three stages, each ending with its own `N passed, N failed`; the last line adds them up.
#   1. every Bazel test (unit, device, block, boot tests through the KVM test host)
#   2. unit, block and device tests again under ASan + UBSan (scripts/sanitize-test.sh)
#   3. each libFuzzer target for FUZZ_SECONDS (default 30 here) (scripts/fuzz.sh)
# Arguments are passed to stage 1 only (e.g. a target pattern).
total_passed=0 total_failed=0 status=0
stage() {  # name command...
  local name=$1 log rc line
  shift
  log=$(mktemp "${TMPDIR:-/tmp}/kvmm-test.XXXXXX")
  echo "==== test stage: $name"
  "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  # (bazel_test_summary.py may add ", N skipped")
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$log" | tail -1)
  rm -f "$log"
  if [ -z "$line" ]; then
    echo "test: stage $name printed no summary line (exit $rc); counted as one failure" >&2
    line="0 passed, 1 failed"
  elif [ "$rc" -ne 0 ] && [ "$(awk '{print $3}' <<< "$line")" = 0 ]; then
    echo "test: stage $name exited with $rc; counted as one failure" >&2
    line="$(awk '{print $1}' <<< "$line") passed, 1 failed"
  fi
  total_passed=$((total_passed + $(awk '{print $1}' <<< "$line")))
  total_failed=$((total_failed + $(awk '{print $3}' <<< "$line")))
  [ "$rc" -eq 0 ] || status=1
}
stage tests scripts/bazel-test.sh \
  --test_env=KVMM_CACHE="$KVMM_CACHE" \
  --test_env=KVMM_GUEST_IMAGE="$image" \
  "$@"
stage sanitizers scripts/sanitize-test.sh
export FUZZ_SECONDS=${FUZZ_SECONDS:-30}
stage fuzzers scripts/fuzz.sh
echo "==== all stages"
echo "$total_passed passed, $total_failed failed"
[ "$status" -eq 0 ] && [ "$total_failed" -eq 0 ]
