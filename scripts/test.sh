#!/usr/bin/env bash
# The whole test suite: lint, unit and integration tests (real gpg, real
# keys, the real binary), end-to-end tests against real backup software
# (Amanda, Bacula, MariaDB, PostgreSQL; they install their own packages and
# need root), a benchmark smoke run (asserts no speed) and a short fuzz run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo fmt --all -- --check
cargo clippy --locked --all-targets --quiet -- -D warnings
# --show-output: the damage table's case counts and the end-to-end tests'
# timings appear in the log even when everything passes.
cargo test --locked -- --show-output
# The smoke run checks every benchmark command round-trips; it asserts no
# speed, so the debug binary will do (no release build in CI).
SEALPIPE_BIN=$PWD/target/debug/sealpipe bench/run.sh --smoke
FUZZ_SECONDS=${FUZZ_SECONDS:-30} scripts/fuzz-smoke.sh
