#!/usr/bin/env bash
# Runs the unit, block and device tests (not the boot tests) under AddressSanitizer +
# UndefinedBehaviorSanitizer (`--config=asan` in .bazelrc: GCC, -fno-sanitize-recover=all,
# halt_on_error, detect_leaks), so any finding fails its test. Uses its own Bazel output base
# ($KVMM_CACHE/bazel-asan) so the normal build's cache is never invalidated, and ends with a
# plain `N passed, N failed` line like scripts/bazel-test.sh.
# Usage: scripts/sanitize-test.sh [--flag=value ...] [targets...]
#   (default targets: //tests/unit/... //tests/block/... //tests/devices/...)
set -u
cd "$(dirname "$0")/.."
. scripts/lib/kvmm-cache.sh
output_base="$KVMM_CACHE/bazel-asan"
mkdir -p "$output_base"
bep="$(mktemp "${TMPDIR:-/tmp}/bep-asan.XXXXXX.json")"
trap 'rm -f "$bep"' EXIT
has_target=0
for a in "$@"; do case "$a" in -*) ;; *) has_target=1 ;; esac; done
[ "$has_target" -eq 0 ] && set -- "$@" //tests/unit/... //tests/block/... //tests/devices/...
# --symlink_prefix=/: no bazel-* symlinks, so the workspace's ones keep pointing at the
# normal build.
bazel --output_base="$output_base" test --config=asan --symlink_prefix=/ \
  --build_event_json_file="$bep" "$@"
rc=$?
python3 scripts/bazel_test_summary.py "$bep" "$rc"
src=$?
# The second server is not needed any more; free its memory for the rest of CI.
bazel --output_base="$output_base" shutdown >/dev/null 2>&1 || true
[ "$rc" -ne 0 ] && exit "$rc"
exit "$src"
