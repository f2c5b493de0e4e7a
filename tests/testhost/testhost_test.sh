#!/usr/bin/env bash
# Test of tests/testhost/run. One outer-VM boot covers the probe, output streams, exit status,
# --rw and --env; the other checks are cheap (direct mode, early timeout, usage error).
set -uo pipefail

here=${TEST_SRCDIR:+$TEST_SRCDIR/${TEST_WORKSPACE:-kvmm}/tests/testhost}
here=${here:-$(cd "$(dirname "$0")" && pwd)}
run=$(readlink -f "$here/run")
probe=$(readlink -f "$here/kvm_probe")
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/testhost_test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failures=0
check() { # check DESCRIPTION COMMAND...
  if "${@:2}"; then echo "PASS: $1"; else echo "FAIL: $1"; failures=$((failures + 1)); fi
}
show() { echo "--- $1:"; sed 's/^/    /' "$2"; }

# 1. One boot (mode chosen automatically: tcg-nested here, direct on hardware KVM).
mkdir -p "$tmp/rw"
inner='
  "$1" || exit 90
  echo "to-stderr" >&2
  echo "env:${KVMM_TESTHOST_CHECK:-unset}:${MY_TESTHOST_VAR:-unset}:${NOT_PASSED_VAR:-unset}"
  echo "inside:${TESTHOST_INSIDE:-direct}"
  seq 1 20000 | md5sum | sed "s/^/seq-md5:/"
  echo written-in-vm > "$2/file"
  if [ "${TESTHOST_INSIDE:-}" = tcg-nested ]; then
    echo "npt:$(cat /sys/module/kvm_amd/parameters/npt)"
    echo "<2>BUG: testhost-watch-check" > /dev/kmsg  # the outer console watcher must report it
    sleep 2
  fi
  exit 7'
start=$(date +%s.%N)
KVMM_TESTHOST_CHECK=abc MY_TESTHOST_VAR=xyz NOT_PASSED_VAR=bad \
  "$run" --timeout 240 --rw "$tmp/rw" --env MY_TESTHOST_VAR -- \
  bash -c "$inner" inner "$probe" "$tmp/rw" > "$tmp/out" 2> "$tmp/err"
rc=$?
echo "main run: exit $rc after $(echo "$(date +%s.%N) - $start" | bc 2>/dev/null || echo '?') s"
show stdout "$tmp/out"; show stderr "$tmp/err"
check "exit status 7 propagates" [ "$rc" = 7 ]
check "mode line on stderr" grep -qE '^testhost: mode=(direct|tcg-nested) \(' "$tmp/err"
check "kvm_probe ran guest code" grep -qx 'kvm_probe: guest says: KVM probe: hello from real mode' "$tmp/out"
check "kvm_probe OK" grep -q '^kvm_probe: OK' "$tmp/out"
check "stderr comes through" grep -qx 'to-stderr' "$tmp/err"
check "KVMM_* and --env pass, others do not" grep -qx 'env:abc:xyz:unset' "$tmp/out"
expected_md5=$(seq 1 20000 | md5sum)
check "stdout is byte-exact (20000 lines)" grep -qx "seq-md5:$expected_md5" "$tmp/out"
check "--rw dir written from inside" grep -qx 'written-in-vm' "$tmp/rw/file"
check "no kernel log on stdout" bash -c "! grep -qE '^\[ *[0-9]+\.[0-9]+\]|Linux version' '$tmp/out'"
if grep -qx 'inside:tcg-nested' "$tmp/out"; then
  check "kvm_probe saw hardware KVM inside the VM" grep -q 'kvm_amd (hardware' "$tmp/out"
  check "outer KVM shadows page tables by default (kvm_amd.npt=0)" grep -qx 'npt:N' "$tmp/out"
  check "outer kernel trouble reaches stderr" grep -qE '^testhost: outer kernel \[[0-9:]+\]: .*BUG: testhost-watch-check' "$tmp/err"
fi

# 2. Direct mode: status and timeout (no VM).
TESTHOST_MODE=direct "$run" -- sh -c 'echo direct-out; exit 3' > "$tmp/d.out" 2> "$tmp/d.err"
check "direct: exit status 3" [ $? = 3 ]
check "direct: stdout" grep -qx direct-out "$tmp/d.out"
check "direct: mode line" grep -q '^testhost: mode=direct (forced by TESTHOST_MODE=direct)' "$tmp/d.err"
TESTHOST_MODE=direct "$run" --timeout 1 -- sleep 30 2> /dev/null
check "direct: timeout gives 124" [ $? = 124 ]

# 3. TCG mode: a timeout shorter than the boot kills QEMU and gives 124.
start=$(date +%s)
TESTHOST_MODE=tcg "$run" --timeout 2 -- sleep 300 2> "$tmp/t.err"
rc=$?
check "tcg: timeout gives 124 (got $rc)" [ "$rc" = 124 ]
check "tcg: timeout is prompt" [ $(( $(date +%s) - start )) -lt 30 ]

# 4. Usage errors are infrastructure failures (125).
"$run" --bogus 2> /dev/null
check "unknown option gives 125" [ $? = 125 ]

echo "$failures failure(s)"
[ "$failures" = 0 ]
