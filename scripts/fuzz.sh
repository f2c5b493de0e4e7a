#!/usr/bin/env bash
# Builds the libFuzzer targets in tests/fuzz with clang-14 (`--config=fuzz` in .bazelrc:
# -fsanitize=fuzzer,address,undefined) in a separate Bazel output base
# ($KVMM_CACHE/bazel-fuzz, so the normal GCC build cache is untouched) and runs each one for a
# time budget, starting from a scratch copy of its committed seed corpus
# (tests/fuzz/corpus/<target>; the committed files are never modified).
# Prints `RESULT fuzz-<target> pass|fail` per target and a final `N passed, N failed`; exits
# non-zero if any target failed to build or found a crash. Crash inputs are kept under
# $FUZZ_ARTIFACTS (default $KVMM_CACHE/fuzz-artifacts/<target>/); reproduce one with
#   <bazel-bin>/tests/fuzz/<target>_fuzzer <crash-file>
# Usage: scripts/fuzz.sh [target...]    targets: virtio_blk ahci ide zoned drive_options
#   FUZZ_SECONDS   seconds per target (default 60)
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/kvmm-cache.sh
seconds=${FUZZ_SECONDS:-60}
artifacts_root=${FUZZ_ARTIFACTS:-$KVMM_CACHE/fuzz-artifacts}
all_targets=(virtio_blk ahci ide zoned drive_options)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  [ -d "tests/fuzz/corpus/$t" ] || { echo "fuzz: unknown target '$t' (have: ${all_targets[*]})" >&2; exit 2; }
done

output_base="$KVMM_CACHE/bazel-fuzz"
mkdir -p "$output_base"
bazel_fuzz() { bazel --output_base="$output_base" "$@"; }
stop_server() { bazel_fuzz shutdown >/dev/null 2>&1 || true; }

labels=()
for t in "${targets[@]}"; do labels+=("//tests/fuzz:${t}_fuzzer"); done
start=$(date +%s)
# --symlink_prefix=/: no bazel-* symlinks, so the workspace's ones keep pointing at the normal build.
if ! bazel_fuzz build --config=fuzz --symlink_prefix=/ "${labels[@]}"; then
  echo "fuzz: build failed (clang-14 and libclang-rt-14-dev come from scripts/setup.sh)" >&2
  for t in "${targets[@]}"; do echo "RESULT fuzz-$t fail"; done
  echo "0 passed, ${#targets[@]} failed"
  stop_server
  exit 1
fi
bin="$(bazel_fuzz info --config=fuzz bazel-bin 2>/dev/null)/tests/fuzz"
echo "fuzz: build took $(( $(date +%s) - start )) s"

work="$(mktemp -d "${TMPDIR:-/tmp}/kvmm-fuzz.XXXXXX")"
trap 'rm -rf "$work"; stop_server' EXIT
# The fuzzers' temp images go to tmpfs when there is one (fsync-heavy zoned metadata).
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
symbolizer=$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)
[ -n "$symbolizer" ] && export ASAN_SYMBOLIZER_PATH="$symbolizer"
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

passed=0
failed=0
for t in "${targets[@]}"; do
  corpus="$work/corpus-$t"
  cp -r "tests/fuzz/corpus/$t" "$corpus"
  seeds=$(ls "$corpus" | wc -l)
  artifacts="$artifacts_root/$t/"
  mkdir -p "$artifacts"
  log="$work/$t.log"
  t0=$(date +%s)
  # -timeout: one input taking this long is a hang (a finding); -rss_limit_mb: leaks or
  # unbounded growth; -detect_leaks is on by default.
  "$bin/${t}_fuzzer" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts" "$corpus" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  echo "fuzz-$t: ${runs:-?} inputs in $(( $(date +%s) - t0 )) s, ${rate:-?} exec/s, corpus $seeds -> $(ls "$corpus" | wc -l)"
  if [ "$rc" -eq 0 ]; then
    echo "RESULT fuzz-$t pass"
    passed=$((passed + 1))
  else
    echo "fuzz-$t: fuzzer exited with $rc; the end of its log:" >&2
    grep -v -E '^#[0-9]+ +(NEW|REDUCE|pulse)' "$log" | tail -n 60 >&2
    ls -1 "$artifacts" >&2
    echo "RESULT fuzz-$t fail"
    failed=$((failed + 1))
  fi
done
echo "fuzz: total $(( $(date +%s) - start )) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
