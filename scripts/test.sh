#!/usr/bin/env bash
# The whole test suite: lint, unit and integration tests (real gpg, real
# keys, the real binary), end-to-end tests against real backup software
# (Amanda, Bacula, MariaDB, PostgreSQL; they install their own packages and
# need root), a benchmark smoke run (asserts no speed) and a short fuzz run.
# Each phase prints how long it took, so a slow CI run shows where.
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

phase "packages" scripts/deps.sh
phase "fmt" cargo fmt --all -- --check
phase "clippy" cargo clippy --locked --all-targets --quiet -- -D warnings
# --show-output: the damage table's case counts and the end-to-end tests'
# timings appear in the log even when everything passes.
phase "tests" cargo test --locked -- --show-output
# The smoke run checks every benchmark command round-trips; it asserts no
# speed, so the debug binary will do (no release build in CI).
phase "bench smoke" env SEALPIPE_BIN="$PWD/target/debug/sealpipe" bench/run.sh --smoke
phase "fuzz smoke" env FUZZ_SECONDS="${FUZZ_SECONDS:-30}" scripts/fuzz-smoke.sh
echo "== whole suite: $(($(date +%s) - suite_start)) s"
