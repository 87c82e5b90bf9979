#!/usr/bin/env bash
# The whole test suite, as root: lint; the Debian package built, checked by
# lintian and installed (scripts/install.sh); unit and integration tests
# (real gpg, real keys, the real binary); end-to-end tests against real
# backup software (Amanda, Bacula daemons, BackupPC, MariaDB, PostgreSQL;
# they install their own packages) run against the INSTALLED
# /usr/bin/sealpipe, as a user has it; a benchmark smoke run (asserts no
# speed) and a short fuzz run. Each phase prints how long it took, so a slow
# CI run shows where. Needs no stdin.
set -euo pipefail
cd "$(dirname "$0")/.."

suite_start=$(date +%s)
phase() { # phase NAME COMMAND...: run it, then say how long it took
  local name=$1 start
  shift
  start=$(date +%s)
  "$@"
  echo "== $name: $(($(date +%s) - start)) s"
}

phase "packages" scripts/deps.sh --for-tests
phase "fmt" cargo fmt --all -- --check
phase "clippy" cargo clippy --locked --all-targets --quiet -- -D warnings
# Build the .deb, install it with apt and do a round trip with /usr/bin/sealpipe.
phase "package and install" scripts/install.sh </dev/null
lint_package() {
  lintian --fail-on error --tag-display-limit 0 target/debian/sealpipe_*.deb
}
phase "lintian" lint_package
# tests/systems.rs runs the installed binary, never another one.
unset SEALPIPE_SYSTEM_TEST_BIN
# --show-output: the damage table's case counts and the end-to-end tests'
# timings appear in the log even when everything passes.
# Within TESTS_LIMIT seconds (600): a test that hangs fails the suite.
phase "tests" scripts/tests-within-limit.sh --show-output
# The smoke run checks every benchmark command round-trips; it asserts no
# speed, so the debug binary will do.
phase "bench smoke" env SEALPIPE_BIN="$PWD/target/debug/sealpipe" bench/run.sh --smoke
phase "fuzz smoke" env FUZZ_SECONDS="${FUZZ_SECONDS:-30}" scripts/fuzz-smoke.sh
echo "== whole suite: $(($(date +%s) - suite_start)) s"
