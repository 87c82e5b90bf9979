#!/usr/bin/env bash
# sealpipe benchmark: sealpipe side by side with gpg, zstd and pigz on the
# same inputs in the same run, medians of N runs, peak RSS from
# /usr/bin/time -v. Ratios, not absolute numbers, are what carry over
# between (shared, noisy) machines. See docs/performance.md.
#
#   bench/run.sh                  # 1 GiB inputs, 5 runs, + RSS at 1 and 8 GiB (~15 min on 2 cores)
#   bench/run.sh --size 256M --runs 9
#   bench/run.sh --smoke          # tiny: every command runs and round-trips; asserts no speed
#   bench/run.sh --size 256M --runs 15 --only 'sealpipe zstd|zstd -3 -T2 \(|zstd -d \('
#                                 # only the commands whose names match (the
#                                 # encrypt rows that make a decrypt row's input too)
#
# Env: SEALPIPE_BIN to bench a given binary instead of building target/release.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SIZE=1G RUNS=5 SMOKE=0 BIG=1 INPUTS="sql tar" ONLY=""
while [ $# -gt 0 ]; do
  case $1 in
    --size) SIZE=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --smoke) SMOKE=1; SIZE=8M; RUNS=1; BIG=0; shift ;;
    --no-big) BIG=0; shift ;;
    --inputs) INPUTS=$2; shift 2 ;;
    --only) ONLY=$2; BIG=0; shift 2 ;;
    *) echo "usage: bench/run.sh [--size N[KMG]] [--runs N] [--inputs 'sql tar'] [--only REGEX] [--no-big] [--smoke]" >&2; exit 2 ;;
  esac
done

# ---- prerequisites (quiet; only what is missing) ---------------------------
scripts/deps.sh
if ! command -v pigz >/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pigz >/dev/null \
    || { $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pigz >/dev/null; }
fi
if [ -z "${SEALPIPE_BIN:-}" ]; then
  cargo build --release --locked --quiet
  SEALPIPE_BIN=$ROOT/target/release/sealpipe
fi
SP=$SEALPIPE_BIN

W=$ROOT/bench/work
mkdir -p "$W"
BYTES=$(numfmt --from=iec "$SIZE")

# ---- keys: the example keys, for sealpipe and for gpg ----------------------
rm -rf "$W/keys" "$W/gnupg"
cp -r keys-example "$W/keys"
chmod 600 "$W/keys"/*.key.asc
CONF=$W/keys/sealpipe.toml
export GNUPGHOME=$W/gnupg
mkdir -m 700 "$GNUPGHOME"
gpg --batch -q --import "$W/keys/daily.key.asc" "$W/keys/escrow.cert.asc" 2>/dev/null
DAILY=049523D7912BD3BCB3721A9E313397A6DCD8C489
ESCROW=F309C861DE42271CE5FA93E480EA1AEEB32F5B2D
GPG_E="gpg --batch -q --trust-model always -e -r $DAILY -r $ESCROW"
# A signing key made fresh for the signed/verified rows (issue 15).
"$SP" keygen --config "$CONF" --sign --name bench-signer --expires never \
  --cert-out "$W/keys/signer.cert.asc" --key-out "$W/keys/signer.key.asc" \
  | grep -E '^[0-9A-F]{40}$' > "$W/keys/allowed-signers"
SIGN="--sign-key $W/keys/signer.key.asc"
CHECK="--allowed-signers $W/keys/allowed-signers --signer-cert $W/keys/signer.cert.asc"
GPG_D="gpg --batch -q -d"

# ---- inputs -----------------------------------------------------------------
make_sql() { # a SQL dump with varied rows (zstd -3 shrinks it ~4x)
  python3 - "$1" "$BYTES" <<'PY'
import random, sys
path, size = sys.argv[1], int(sys.argv[2])
rnd = random.Random(42)
names = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
words = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt".split()
with open(path, "w") as f:
    f.write("CREATE TABLE orders (id BIGINT, customer TEXT, city TEXT, total NUMERIC, created DATE, note TEXT);\n")
    written, i = 0, 0
    while written < size:
        rows = []
        for _ in range(1000):
            i += 1
            rows.append("INSERT INTO orders VALUES (%d, '%s-%d', '%s', %d.%02d, '20%02d-%02d-%02d', '%s');\n" % (
                i, rnd.choice(names), rnd.randrange(100000), rnd.choice(words).title(),
                rnd.randrange(100000), rnd.randrange(100), rnd.randrange(10, 27), rnd.randrange(1, 13),
                rnd.randrange(1, 29), " ".join(rnd.choice(words) for _ in range(rnd.randrange(2, 9)))))
        chunk = "".join(rows)
        f.write(chunk)
        written += len(chunk)
    f.truncate(size)
PY
}
make_tar() { # a tar of system files
  tar -cf - /usr/lib /usr/share /usr/bin 2>/dev/null | head -c "$BYTES" > "$1" || true
}
for input in $INPUTS; do
  f=$W/$input.$SIZE
  [ -f "$f" ] && [ "$(stat -c %s "$f")" = "$BYTES" ] || "make_$input" "$f"
done

# ---- measuring ----------------------------------------------------------------
# Commands are queued with `job` and run by `run_jobs` round-robin: run 1 of
# every command, then run 2 of every command, and so on. A machine that gets
# busier or quieter during the run then slows every command alike, and the
# ratios between them stay fair. Peak RSS: the largest process of a pipeline.
RESULTS=$W/results.tsv
# Every run's time, for the ratios: INPUT DIRECTION NAME RUN SECONDS CPU_SECONDS.
RUNTIMES=$W/runs.tsv
: > "$RESULTS"
: > "$RUNTIMES"
JOBS=()
# job INPUT DIRECTION NAME PLAIN_FILE IN OUT CMD (left out if --only does not match NAME)
job() {
  [ -z "$ONLY" ] || [[ $3 =~ $ONLY ]] || return 0
  JOBS+=("$1"$'\t'"$2"$'\t'"$3"$'\t'"$4"$'\t'"$5"$'\t'"$6"$'\t'"$7")
}
# The median (the lower middle of an even count) of one command's runs in
# column 5 (wall seconds) or 6 (CPU seconds) of $RUNTIMES.
median_of() { # input dir name column
  awk -F'\t' -v i="$1" -v d="$2" -v n="$3" -v c="$4" '$1 == i && $2 == d && $3 == n { print $c }' "$RUNTIMES" \
    | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
run_jobs() {
  local r i input dir name plain in out cmd secs kib mbs size start user sys cpu
  local -A rss
  for r in $(seq "$RUNS"); do
    # Each round runs the commands in its own order (a shuffle seeded by
    # the round, the same in every run of the script), so that no command
    # always follows the same heavy one.
    for i in $(seq 0 $(( ${#JOBS[@]} - 1 )) | shuf --random-source=<(yes "$r")); do
      IFS=$'\t' read -r input dir name plain in out cmd <<< "${JOBS[$i]}"
      [ -f "$in" ] || { echo "FAILED: no $in for '$name' (does --only leave out the command that makes it?)" >&2; exit 1; }
      # Wall time from the shell's clock (microseconds; time's %e has only
      # 10 ms, 3% of a 256 MiB decrypt); peak RSS and CPU time (user +
      # system, every process of the pipeline) from /usr/bin/time.
      start=$EPOCHREALTIME
      /usr/bin/time -f "%M %U %S" -o "$W/time.out" bash -o pipefail -c "$cmd" < "$in" > "$out" \
        || { echo "FAILED: $cmd" >&2; exit 1; }
      secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.4f", b - a }')
      # Untimed: this command's output to disk now, not while a later
      # command is timed (the kernel writes dirty pages back 30 s on).
      sync
      read -r kib user sys < "$W/time.out"
      cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$input" "$dir" "$name" "$r" "$secs" "$cpu" >> "$RUNTIMES"
      [ "${rss[$i]:-0}" -ge "$kib" ] || rss[$i]=$kib
    done
  done
  for i in "${!JOBS[@]}"; do
    IFS=$'\t' read -r input dir name plain in out cmd <<< "${JOBS[$i]}"
    secs=$(median_of "$input" "$dir" "$name" 5)
    mbs=$(awk -v b="$(stat -c %s "$plain")" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? b / s / 1e6 : 0) }')
    size=$([ "$dir" = encrypt ] && stat -c %s "$out" || echo -)
    kib=${rss[$i]}
    # CPU seconds per GiB of plaintext, median: with the wall time, how many
    # cores a command kept busy, and what two cores could at best do.
    cpu=$(median_of "$input" "$dir" "$name" 6 \
      | awk -v b="$(stat -c %s "$plain")" '{ printf "%.2f", $1 * 1073741824 / b }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$input" "$dir" "$name" "$mbs" "$((kib / 1024))" "$size" "$cpu" >> "$RESULTS"
    printf '  %-8s %-8s %-34s %6s MB/s %5s MiB RSS %6s CPU s/GiB\n' "$input" "$dir" "$name" "$mbs" "$((kib / 1024))" "$cpu"
  done
  JOBS=()
}

echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "# $("$SP" --version | paste -sd ';' | sed 's/;/; /g'); $(gpg --version | head -1); zstd $(zstd -V | grep -o 'v[0-9.]*'); pigz $(pigz -V 2>&1 | awk '{print $2}')"
echo "# inputs: $SIZE each, $RUNS runs of every command, round-robin, medians"
for input in $INPUTS; do
  p=$W/$input.$SIZE
  o=$W/out.$input
  # Outputs of an earlier run (another size, another binary) must not be
  # decrypted or checked as this run's.
  rm -f "$o".*
  for mode in zstd deflate none; do
    job "$input" encrypt "sealpipe $mode" "$p" "$p" "$o.sp-$mode" "$SP encrypt --config $CONF -c $mode"
  done
  job "$input" encrypt "sealpipe zstd signed" "$p" "$p" "$o.sp-zstd-signed" "$SP encrypt --config $CONF -c zstd $SIGN"
  job "$input" encrypt "gpg (default zlib-6)" "$p" "$p" "$o.gpg" "$GPG_E"
  job "$input" encrypt "gpg --compress-algo none" "$p" "$p" "$o.gpg-none" "$GPG_E --compress-algo none"
  job "$input" encrypt "zstd -3 -T2 | gpg none" "$p" "$p" "$o.zstd-gpg" "zstd -3 -T2 -q | $GPG_E --compress-algo none"
  job "$input" encrypt "zstd -3 -T2 (alone)" "$p" "$p" "$o.zst" "zstd -3 -T2 -q"
  job "$input" encrypt "pigz -6 (alone)" "$p" "$p" "$o.gz" "pigz -6 -p 2"

  run_jobs

  # Every decrypt is timed to /dev/null, as the references are; the
  # round trips are checked afterwards, untimed.
  for mode in zstd deflate none; do
    job "$input" decrypt "sealpipe $mode" "$p" "$o.sp-$mode" /dev/null "$SP decrypt --config $CONF"
  done
  job "$input" decrypt "sealpipe zstd verified" "$p" "$o.sp-zstd-signed" /dev/null "$SP decrypt --config $CONF $CHECK"
  # The frames decompressed on one thread: what the parallel restore adds.
  job "$input" decrypt "sealpipe zstd -j1" "$p" "$o.sp-zstd" /dev/null "$SP decrypt --config $CONF -j1"
  job "$input" decrypt "gpg -d (default)" "$p" "$o.gpg" /dev/null "$GPG_D"
  job "$input" decrypt "gpg -d (none)" "$p" "$o.gpg-none" /dev/null "$GPG_D"
  job "$input" decrypt "gpg -d | zstd -d" "$p" "$o.zstd-gpg" /dev/null "$GPG_D | zstd -dq"
  job "$input" decrypt "zstd -d (alone)" "$p" "$o.zst" /dev/null "zstd -dq"
  job "$input" decrypt "pigz -d (alone)" "$p" "$o.gz" /dev/null "pigz -d"
  run_jobs
  # Untimed: each output round-trips. Without --only every one was made.
  made() {
    [ -f "$1" ] && return 0
    [ -n "$ONLY" ] && return 1
    echo "FAILED: $1 was not made" >&2; exit 1
  }
  for mode in zstd deflate none; do
    made "$o.sp-$mode" || continue
    "$SP" decrypt --config "$CONF" < "$o.sp-$mode" | cmp -s - "$p" \
      || { echo "FAILED: sealpipe $mode did not round-trip" >&2; exit 1; }
  done
  if made "$o.sp-zstd-signed"; then
    "$SP" decrypt --config "$CONF" $CHECK < "$o.sp-zstd-signed" | cmp -s - "$p" \
      || { echo "FAILED: the signed backup did not round-trip verified" >&2; exit 1; }
  fi
  if made "$o.sp-zstd"; then
    "$SP" decrypt --config "$CONF" $CHECK < "$o.sp-zstd" > /dev/null 2>&1 \
      && { echo "FAILED: an unsigned backup passed the signer check" >&2; exit 1; }
    # sealpipe's output restores with plain gpg.
    $GPG_D < "$o.sp-zstd" 2>/dev/null | zstd -dq | cmp -s - "$p" || { echo "FAILED: gpg could not restore sealpipe zstd" >&2; exit 1; }
  fi
  if made "$o.zstd-gpg"; then
    $GPG_D < "$o.zstd-gpg" 2>/dev/null | zstd -dq | cmp -s - "$p" || { echo "FAILED: gpg | zstd did not round-trip" >&2; exit 1; }
  fi
  if made "$o.sp-deflate"; then
    $GPG_D < "$o.sp-deflate" 2>/dev/null | cmp -s - "$p" || { echo "FAILED: gpg could not restore sealpipe deflate" >&2; exit 1; }
  fi
done

# ---- peak RSS does not grow with input size ---------------------------------
if [ "$BIG" = 1 ]; then
  first=$(echo "$INPUTS" | awk '{print $1}')
  p=$W/$first.$SIZE
  for n in 1 8; do
    # Stream N copies of the input through encrypt and straight into decrypt.
    bash -o pipefail -c "for i in \$(seq $n); do cat $p; done \
      | /usr/bin/time -f '%M' -o $W/rss.enc.$n $SP encrypt --config $CONF \
      | /usr/bin/time -f '%M' -o $W/rss.dec.$n $SP decrypt --config $CONF > /dev/null" \
      || { echo "FAILED: streaming $n x $SIZE" >&2; exit 1; }
    printf 'rss\t%sx%s\tencrypt %s MiB\tdecrypt %s MiB\n' "$n" "$SIZE" \
      "$(( $(cat "$W/rss.enc.$n") / 1024 ))" "$(( $(cat "$W/rss.dec.$n") / 1024 ))" | tee -a "$W/rss.tsv"
  done
fi

# ---- the table ---------------------------------------------------------------
# How much faster a is than b: the median over the rounds of b's time over
# a's in the same round, so a round that ran slow for both cancels out.
ratio() { paired "$@" time; } # input dir name_a name_b
# The most a could gain on b on this machine without doing less work: b's
# time over a's CPU time spread over every core, median over the rounds. A
# ratio near its ceiling is at the machine's limit, not the code's.
ceiling() { paired "$@" cpu; } # input dir name_a name_b
# The lowest and highest of the per-round ratios: how far one round is
# from the median on this machine.
spread() { paired "$@" time range; } # input dir name_a name_b
paired() { # input dir name_a name_b time|cpu [range]
  awk -F'\t' -v i="$1" -v d="$2" -v a="$3" -v b="$4" -v by="$5" -v show="${6:-median}" -v cores="$(nproc)" '
    $1 == i && $2 == d && $3 == a { x[$4] = (by == "cpu" ? $6 / cores : $5) }
    $1 == i && $2 == d && $3 == b { y[$4] = $5 }
    END {
      n = 0
      for (r in x) if ((r in y) && x[r] > 0) v[++n] = y[r] / x[r]
      if (n == 0) { print "-"; exit }
      for (j = 2; j <= n; j++) { t = v[j]; k = j - 1; while (k > 0 && v[k] > t) { v[k + 1] = v[k]; k-- } v[k + 1] = t }
      if (show == "range") { printf "%.2f-%.2fx", v[1], v[n]; exit }
      printf "%.2fx", (n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2)
    }' "$RUNTIMES"
}
size_ratio() { # input name_a name_b: how much larger a's output is, in percent
  awk -F'\t' -v i="$1" -v a="$2" -v b="$3" '
    $1 == i && $2 == "encrypt" && $3 == a { x = $6 } $1 == i && $2 == "encrypt" && $3 == b { y = $6 }
    END { if (y > 0) printf "%+.2f%%", (x / y - 1) * 100; else print "-" }' "$RESULTS"
}
echo
echo "| input | direction | command | MB/s | peak RSS MiB | output bytes | CPU s/GiB |"
echo "|---|---|---|---:|---:|---:|---:|"
awk -F'\t' '{ gsub(/\|/, "\\|", $3); printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7 }' "$RESULTS"
echo
for input in $INPUTS; do
  echo "ratios ($input):"
  echo "  encrypt zstd vs zstd|gpg: $(ratio "$input" encrypt "sealpipe zstd" "zstd -3 -T2 | gpg none")" \
       "  vs gpg default: $(ratio "$input" encrypt "sealpipe zstd" "gpg (default zlib-6)")"
  echo "  decrypt zstd vs gpg|zstd: $(ratio "$input" decrypt "sealpipe zstd" "gpg -d | zstd -d")" \
       "  vs zstd -d alone: $(ratio "$input" decrypt "sealpipe zstd" "zstd -d (alone)")" \
       "(rounds $(spread "$input" decrypt "sealpipe zstd" "zstd -d (alone)"), CPU ceiling $(ceiling "$input" decrypt "sealpipe zstd" "zstd -d (alone)"))" \
       "  (one thread: $(ratio "$input" decrypt "sealpipe zstd -j1" "zstd -d (alone)") of zstd -d)"
  echo "  signed zstd encrypt vs unsigned: $(ratio "$input" encrypt "sealpipe zstd signed" "sealpipe zstd")" \
       "  verified decrypt vs unverified: $(ratio "$input" decrypt "sealpipe zstd verified" "sealpipe zstd")" \
       "(rounds $(spread "$input" decrypt "sealpipe zstd verified" "sealpipe zstd"), CPU ceiling $(ceiling "$input" decrypt "sealpipe zstd verified" "sealpipe zstd"))"
  echo "  zstd output vs zstd -3 -T2 alone: $(size_ratio "$input" "sealpipe zstd" "zstd -3 -T2 (alone)")"
  echo "  none vs gpg none: encrypt $(ratio "$input" encrypt "sealpipe none" "gpg --compress-algo none")," \
       "decrypt $(ratio "$input" decrypt "sealpipe none" "gpg -d (none)")"
  echo "  deflate vs pigz -6: encrypt $(ratio "$input" encrypt "sealpipe deflate" "pigz -6 (alone)")," \
       "decrypt $(ratio "$input" decrypt "sealpipe deflate" "pigz -d (alone)")"
done
[ "$SMOKE" = 1 ] && echo "smoke run OK (no speed asserted)"
exit 0
