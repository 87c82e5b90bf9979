#!/usr/bin/env bash
# A short fuzz run for CI: each cargo-fuzz target for FUZZ_SECONDS (default
# 30) from the committed seed corpus. Fails on any crash (a panic, or an
# error no damaged backup may give), hang (> 10 s for one input) or memory
# use over 512 MB. New inputs go to a temp dir, so the committed corpus
# does not grow. See docs/fuzzing.md for longer runs.
#
# Knobs: FUZZ_SECONDS (per target), FUZZ_TARGETS ("decrypt inspect inner"),
# FUZZ_SANITIZER (none; "address" for ASan: ~3x slower, ~5x the memory),
# FUZZ_DEBUG_ASSERTIONS (1: integer overflow and debug_assert! panic, in
# sealpipe and its dependencies; 0 for release semantics, ~2x faster).
# Changing either of the last two rebuilds everything (~4-6 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-fuzz >/dev/null; then
  echo "fuzz smoke: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked --quiet
fi
# cargo-fuzz hands rustc nightly-only flags (-Zsanitizer, sancov options).
# There is only a stable toolchain here; RUSTC_BOOTSTRAP=1 makes stable
# rustc accept them. (A nightly toolchain works as well without it.)
export RUSTC_BOOTSTRAP=1

SECONDS_EACH=${FUZZ_SECONDS:-30}
SANITIZER=${FUZZ_SANITIZER:-none}
TARGETS=${FUZZ_TARGETS:-decrypt inspect inner}
FLAGS=(--sanitizer "$SANITIZER")
if [ "${FUZZ_DEBUG_ASSERTIONS:-1}" = 1 ]; then FLAGS+=(--debug-assertions); fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

start=$(date +%s)
# One build for all targets, quietly; on failure show what cargo said.
if ! cargo fuzz build "${FLAGS[@]}" >"$scratch/build.log" 2>&1; then
  tail -n 40 "$scratch/build.log" >&2
  echo "fuzz smoke: building the fuzz targets failed" >&2
  exit 1
fi
echo "fuzz smoke: built in $(($(date +%s) - start)) s"

for target in $TARGETS; do
  mkdir -p "$scratch/corpus-$target"
  log="$scratch/$target.log"
  # Only the committed corpus is read; new inputs go to the scratch dir.
  if cargo fuzz run "${FLAGS[@]}" "$target" \
      "$scratch/corpus-$target" "fuzz/corpus/$target" -- \
      -max_total_time="$SECONDS_EACH" -rss_limit_mb=512 -malloc_limit_mb=512 \
      -timeout=10 -max_len=65536 -print_final_stats=1 </dev/null >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")
    echo "fuzz smoke: $target OK: ${runs:-?} inputs in ${SECONDS_EACH} s (${rate:-?}/s), peak RSS ${rss:-?} MB"
  else
    {
      # Why: the panic message, or libFuzzer's verdict (timeout, oom, leak).
      grep -A4 "panicked at" "$log" | grep -v -E '^ *(stack backtrace:|[0-9]+: |at )' | head -n 12 || true
      grep -E '^==[0-9]+== ERROR|^SUMMARY|Test unit written' "$log" || true
      grep -A2 -E '^(Reproduce|Minimize test case) with:' "$log" || true
    } >&2
    # The artifact stays on the CI machine: print it, so a CI log alone
    # reproduces the finding (base64 -d > FILE, then cargo fuzz run).
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    if [ -n "$artifact" ] && [ -f "$artifact" ] && [ "$(stat -c %s "$artifact")" -le 16384 ]; then
      echo "fuzz smoke: the input, base64 ($(stat -c %s "$artifact") bytes):" >&2
      base64 -w 76 "$artifact" >&2
    fi
    echo "fuzz smoke: $target FAILED; the input is in fuzz/artifacts/$target/ (see docs/fuzzing.md)" >&2
    exit 1
  fi
done
echo "fuzz smoke: OK ($TARGETS), $(($(date +%s) - start)) s in all"
