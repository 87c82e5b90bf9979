#!/usr/bin/env bash
# The test phase of scripts/test.sh: `cargo test` given TESTS_LIMIT seconds
# (600 by default, about 2.5x what the tests take on CI's 2 cores). A test
# that loops (a bug that makes a read loop endless, say) then fails the
# suite instead of hanging CI: `timeout` stops cargo and everything it
# started (its own process group), and this exits 124 and says why. libtest
# names in the log every test still running after 60 s.
#
#   scripts/tests-within-limit.sh [ARGS FOR THE TEST BINARIES...]
set -uo pipefail
cd "$(dirname "$0")/.."

limit=${TESTS_LIMIT:-600}
# timeout runs in a process group of its own (so that it can stop all of
# cargo's), which a Ctrl-C at the terminal does not reach: pass it on.
# Started in the background, it reads /dev/null: no test reads the terminal.
timeout --kill-after=20 "$limit" cargo test --locked -- "$@" &
group=$!
interrupted=
trap 'interrupted=1; kill -TERM -- "-$group" 2>/dev/null' INT TERM HUP
status=0
wait "$group" || status=$?
# A signal interrupted the wait: wait for the group to stop.
while kill -0 "$group" 2>/dev/null; do wait "$group" || status=$?; done
if [ -n "$interrupted" ]; then
  echo "tests: interrupted, stopped" >&2
  exit 130
fi
if [ "$status" = 124 ] || [ "$status" = 137 ]; then
  echo "tests: not finished within $limit s, stopped; a test hangs (the log names every" \
    "test still running after 60 s: 'has been running for over 60 seconds')" >&2
  exit 124
fi
exit "$status"
