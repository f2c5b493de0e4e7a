#!/usr/bin/env bash
# The project's test command (the README's second command; .ci/run calls exactly this).
# Installs what is missing, builds the guest image (cached), then runs every Bazel test: unit and
# device tests natively, boot tests through the KVM test host launcher (tests/testhost/run).
# Ends with a plain `N passed, N failed` line; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
export KVMM_CACHE=${KVMM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvmm}

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

scripts/bazel-test.sh \
  --test_env=KVMM_CACHE="$KVMM_CACHE" \
  --test_env=KVMM_GUEST_IMAGE="$image" \
  "$@"
