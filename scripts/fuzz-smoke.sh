#!/usr/bin/env bash
# A short fuzz run for CI: each cargo-fuzz target for FUZZ_SECONDS (default
# 30) from the committed seed corpus. Fails on any crash, hang (> 10 s per
# input) or allocation over 1 GiB. New inputs go to a temp dir, so the
# committed corpus does not grow. See docs/fuzzing.md for longer runs.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
# cargo-fuzz passes nightly-only flags (-Zsanitizer=...) to rustc; the
# machine's stable toolchain accepts them with RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1
SECONDS_EACH=${FUZZ_SECONDS:-30}
SANITIZER=${FUZZ_SANITIZER:-address}
for target in decrypt inspect; do
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  cargo fuzz run --sanitizer "$SANITIZER" "$target" "$scratch" "fuzz/corpus/$target" -- \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb=1024 -malloc_limit_mb=1024 -timeout=10 \
    -max_len=65536 -print_final_stats=0 2>&1 | grep -E "^(==|INFO: Running|#[0-9]+ *DONE|Done|SUMMARY|thread)" || true
  test "${PIPESTATUS[0]}" -eq 0 || { echo "fuzz target $target failed; see fuzz/artifacts/$target" >&2; exit 1; }
  rm -rf "$scratch"
done
echo "fuzz smoke OK: decrypt and inspect, ${SECONDS_EACH}s each"
