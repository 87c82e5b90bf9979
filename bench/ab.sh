#!/usr/bin/env bash
# Interleaved A/B of two sealpipe binaries on the bench's restore inputs:
# round r runs A then B on every case, so a host that gets busier or
# quieter slows both alike. Prints the median wall and CPU time and the peak
# RSS per case, and the verified/unverified ratio per binary.
#
#   bench/ab.sh ROUNDS BIN_A BIN_B
#   INPUTS=tar MODES=plain bench/ab.sh 11 old/sealpipe new/sealpipe
#
# Needs the inputs bench/run.sh leaves in bench/work (run it once first).
set -euo pipefail
[ $# = 3 ] || { echo "usage: bench/ab.sh ROUNDS BIN_A BIN_B" >&2; exit 2; }
R=$1 A=$(realpath "$2") B=$(realpath "$3")
cd "$(dirname "$0")/work"
CONF=keys/sealpipe.toml
CHECK="--allowed-signers keys/allowed-signers --signer-cert keys/signer.cert.asc"
out=$(mktemp)
trap 'rm -f "$out" "$out.time"' EXIT
for r in $(seq "$R"); do
  for input in ${INPUTS:-sql tar}; do
    for mode in ${MODES:-plain verified}; do
      for bin in A B; do
        if [ "$mode" = plain ]; then f=out.$input.sp-zstd; args=""; else f=out.$input.sp-zstd-signed; args=$CHECK; fi
        [ -f "$f" ] || { echo "no bench/work/$f: run bench/run.sh first" >&2; exit 1; }
        start=$EPOCHREALTIME
        # shellcheck disable=SC2086
        /usr/bin/time -f "%U %S %M" -o "$out.time" "${!bin}" decrypt --config "$CONF" $args < "$f" > /dev/null
        end=$EPOCHREALTIME
        read -r user sys rss < "$out.time"
        echo "$input $mode $bin $(awk -v a="$start" -v b="$end" 'BEGIN{print b-a}') $(awk -v u="$user" -v s="$sys" 'BEGIN{print u+s}') $rss" >> "$out"
      done
    done
  done
done
python3 - "$out" <<'PY'
import collections, statistics as st, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    i, m, b, wall, cpu, rss = line.split()
    runs[(i, m, b)].append((float(wall), float(cpu), int(rss)))
med = lambda v, k: st.median(x[k] for x in v)
for i in sorted({k[0] for k in runs}):
    modes = sorted({k[1] for k in runs if k[0] == i})
    for m in modes:
        for b in "AB":
            v = runs[(i, m, b)]
            print(f"{i} {m:8} {b}  wall {med(v, 0):.3f} s  cpu {med(v, 1):.3f} s  rss {max(x[2] for x in v) // 1024} MiB")
    if modes == ["plain", "verified"]:
        for b in "AB":
            ratio = med(runs[(i, "plain", b)], 0) / med(runs[(i, "verified", b)], 0)
            print(f"{i} {b}  verified vs unverified {ratio:.3f}x")
PY
