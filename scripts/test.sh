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
cargo test --locked
if [ -x bench/run.sh ]; then bench/run.sh --smoke; fi
if [ -x scripts/fuzz-smoke.sh ]; then scripts/fuzz-smoke.sh; fi
