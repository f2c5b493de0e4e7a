#!/usr/bin/env bash
# Runs `bazel test` and ends the log with a plain `N passed, N failed` line counted from the test
# cases of this invocation (GoogleTest cases; one case per non-gtest test target).
# Usage: scripts/bazel-test.sh [--flag=value ...] [targets...]   (default target: //...)
set -u
cd "$(dirname "$0")/.."
bep="$(mktemp "${TMPDIR:-/tmp}/bep.XXXXXX.json")"
trap 'rm -f "$bep"' EXIT
has_target=0
for a in "$@"; do case "$a" in -*) ;; *) has_target=1 ;; esac; done
[ "$has_target" -eq 0 ] && set -- "$@" //...
bazel test --build_event_json_file="$bep" "$@"
rc=$?
python3 scripts/bazel_test_summary.py "$bep" "$rc"
src=$?
[ "$rc" -ne 0 ] && exit "$rc"
exit "$src"
