#!/usr/bin/env bash
# Mutation testing of the security-critical modules (issue 19): every
# mutant cargo-mutants makes in them must be caught by a test, except the
# ones judged equivalent in .cargo/mutants.toml (each with its reason).
# Not in CI: it rebuilds and reruns tests once per mutant, hours for all.
# Run it when one of these modules changes, and record the score per module
# in docs/testing.md.
#
#   scripts/mutants.sh                 all modules
#   scripts/mutants.sh policy files    only these
#   MUTANTS_ARGS="--baseline skip --timeout 240" scripts/mutants.sh ...
#                                      more cargo-mutants options
#   MUTANTS_SKIP="peak_memory" scripts/mutants.sh compress
#                                      leave out more tests (a quick first
#                                      pass; rerun what it misses without)
#   scripts/mutants.sh --exclusions    only list what each exclusion in
#                                      .cargo/mutants.toml leaves out
#
# Every run first checks that each exclusion still names a mutant: code
# that moved can leave an entry naming nothing (the mutant it meant is
# then tested again, and fails the run), or naming another mutant than the
# one judged equivalent. The check stops the run on the first kind and
# `--exclusions` shows the second.
#
# Each module runs with only the test targets that exercise it, so a run
# stays minutes, not hours. Results: target/mutants/MODULE/mutants.out/.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo-mutants >/dev/null || cargo install --locked cargo-mutants

declare -A FILE=(
  [policy]=src/policy.rs
  [files]=src/keys/files.rs
  [config]=src/config.rs
  [seipd]=src/format/seipd.rs
  [literal]=src/format/literal.rs
  [envelope]=src/format/envelope.rs
  [decrypt]=src/decrypt/mod.rs
  [replay]=src/decrypt/replay.rs
  [origin]=src/decrypt/origin.rs
  [session]=src/decrypt/session.rs
  [fast]=src/decrypt/fast.rs
  [stock]=src/decrypt/stock.rs
  [io]=src/io.rs
  [pipeline]=src/pipeline.rs
  [encrypt]=src/encrypt.rs
  [signing]=src/keys/signing.rs
  [expiry]=src/keys/expiry.rs
  [rekey]=src/rekey.rs
  [keys]=src/keys/mod.rs
  [digest]=src/digest.rs
  [escrow]=src/keys/escrow.rs
  [service]=src/keys/service.rs
  [agent]=src/keys/agent.rs
  [generate]=src/keys/generate.rs
  [inspect]=src/inspect.rs
  [compress]=src/compress.rs
  [check]=src/commands/check.rs
  [progress]=src/progress.rs
  [packet]=src/format/packet.rs
  [settings]=src/settings.rs
  [time]=src/time.rs
  [extend]=src/commands/extend.rs
  [commands]=src/commands/mod.rs
  [error]=src/error.rs
  [main]=src/main.rs
  [cli]=src/cli.rs
)
declare -A TESTS=(
  # policy: trust has the key-algorithm and pin tests, sign the signing
  # cert check, check and envelope the refusals check/inspect print, core
  # the cipher check on rekey and decrypt.
  [policy]="--test trust --test core --test sign --test check --test envelope"
  [files]="--test trust --test core --test lifecycle"
  [config]="--lib --test trust --test core --test lifecycle"
  # seipd: damage holds the in-process tests that reach every line of it:
  # both readers over 400+ damaged, fuzz and hostile inputs, and the writer
  # round trip at every boundary. Its one binary-spawning test is skipped
  # (SKIP below): 17 s per mutant, and it checks the same cases' messages.
  # lib: the cipher layer read at every size, shorter than a block too.
  [seipd]="--lib --test damage"
  # literal: its unit tests (every shape it takes or hands on, at every
  # piece size); damage the literal shapes through both readers, and the
  # signed, damaged and fuzz cases that pass through it.
  [literal]="--lib --test damage"
  # envelope: envelope has the key-packet and armor bounds and the names
  # of what is not a backup; damage the framing of 400+ damaged inputs.
  [envelope]="--lib --test envelope --test core --test damage --test hostile --test lifecycle"
  # decrypt: damage has both readers in-process over the damaged, hostile
  # and signed cases; origin the bound on signatures (16 accepted, 17
  # refused); lifecycle what verify reports (the compression, the SHA-256).
  [decrypt]="--lib --test core --test damage --test hostile --test lifecycle --test origin"
  # replay: its unit tests drive both passes over every chunk boundary.
  [replay]="--lib"
  # origin: origin has every verdict through the binary (1 s), damage both
  # readers' verdicts on signed backups, forged and damaged, in-process.
  [origin]="--lib --test origin --test damage"
  # session: its unit tests; core the one unlock per key file and the
  # certification-only primary; damage the key packets of hostile inputs;
  # agent the one request per agent key; session_key the given session
  # key and the key service.
  [session]="--lib --test core --test damage --test agent --test session_key"
  # fast, stock: damage runs both readers over the same 400+ inputs and
  # compares verdicts in-process; core the plain restores.
  [fast]="--lib --test damage --test core"
  [stock]="--lib --test damage --test core"
  # io: its unit tests count and keep failures through Read and BufRead;
  # damage reads every damaged input through `Tracked`; core and ux the
  # -o file (renamed into place only on success, --force, a full disk, a
  # broken pipe, a killed run, `-` for stdin and stdout); hostile what a
  # signal or a terminal means; output the named temp file where O_TMPFILE
  # is missing (FUSE) and --force's temp names.
  [io]="--lib --test damage --test core --test ux --test hostile --test output"
  # pipeline: its unit tests (the relay, the threaded reader and writer,
  # failures passed on as they are); core every restore through the relay
  # and every encrypt through the writer thread, to a full disk and a
  # closed pipe; damage and origin the verdicts that come after the data.
  [pipeline]="--lib --test core --test damage --test origin"
  # encrypt: core round-trips every mode through gpg and sealpipe; sign
  # the signed modes and what gpg verifies; lib the plan without keys.
  [encrypt]="--lib --test core --test sign"
  # signing: its unit test (Debug shows no secret); sign loads every kind
  # of signing key file; origin and check what an expired or revoked
  # signer means at encrypt and restore time.
  [signing]="--lib --test sign --test origin --test check"
  # expiry: its unit tests (rounding, which subkey expires first, what
  # extend keeps); check and extend, the refusals at the expiry instant
  # (core, sign), the expiry inspect prints (envelope), signers (origin).
  [expiry]="--lib --test check --test core --test sign --test envelope --test origin"
  # rekey: its unit tests (the copy loop's EINTR and errors); lifecycle
  # re-addresses and restores, sign keeps the signature, agent rekeys with
  # a key in gpg-agent, envelope refuses what is not SEIPDv1.
  [rekey]="--lib --test lifecycle --test sign --test agent --test envelope"
  # keys: which keys may decrypt (lib), loading certs and secret keys
  # (trust, core), the key service and the agent (session_key, agent), and
  # check, the one command that loads key files with SecretKeyring::load.
  [keys]="--lib --test trust --test core --test session_key --test agent --test check"
  # digest: its unit tests; ux the digest files' bounds and links;
  # lifecycle what verify compares; trust the --digest-file refusals.
  [digest]="--lib --test ux --test lifecycle --test trust"
  # escrow: its unit tests; escrow splits and combines with sealpipe and
  # with libgfshare's gfsplit/gfcombine, sheets, limits.
  [escrow]="--lib --test escrow"
  # service: the session-key command (a key service): what it is given,
  # what it may answer, its time and size bounds.
  [service]="--lib --test session_key"
  # agent: keys in gpg-agent (a real agent), decrypt, verify-first, rekey.
  [agent]="--lib --test agent"
  # generate: every test makes its keys with keygen; trust the algorithms
  # and the refusals, check the expiry, sign signing keys, agent the keys
  # gpg imports.
  [generate]="--lib --test trust --test core --test check --test sign --test agent"
  # inspect: envelope names what each backup holds and who opens it;
  # lifecycle inspect across rotation; core the pins; origin the signer
  # that inspect --key names.
  [inspect]="--lib --test envelope --test lifecycle --test core --test origin"
  # compress: its unit tests (both parallel writers, the frame walker, the
  # tap, the window limit, typed damage); compress the frames gpg and zstd
  # restore, 0.1.0's single frame, memory at every thread count; core every
  # mode through gpg and zstd; damage the zstd damage inside intact MDCs.
  [compress]="--lib --test compress --test core --test damage"
  # check: check warns, refuses and reports (text, JSON) before each key
  # expires and loads the decrypt keys; agent a key gpg-agent holds; origin
  # the signer certs on a restore host.
  [check]="--test check --test agent --test origin"
  # progress: terminal the line where asked or on a terminal and silence
  # elsewhere; cli the modes; core every silent success (empty stderr).
  [progress]="--lib --test terminal --test cli --test core"
  # packet: damage the writer round trip at every chunk boundary; core
  # what gpg reads of every mode.
  [packet]="--lib --test damage --test core"
  # settings: its unit tests; ux the levels, threads and modes refused by
  # name; core the modes round-tripped.
  [settings]="--lib --test ux --test core"
  # time: its unit tests (the calendar, the pinned clock); check every
  # expiry decision at a pinned time.
  [time]="--lib --test check"
  # extend: check extends keys (the new expiry, the same fingerprint, the
  # wait past the newest self-signature, the refusals).
  [extend]="--test check"
  # commands: where decrypt's keys come from (core, trust: key files and
  # the config; agent: gpg-agent; session_key: a given session key), the
  # passphrase from a file, an fd or the terminal (terminal), the signer
  # check from the config or the command line (origin), the config inspect
  # may go without (envelope).
  [commands]="--test core --test trust --test agent --test session_key --test terminal --test origin --test envelope"
  # error: its unit tests (the exit codes, each message); ux one error line
  # through one printer; core and trust the codes of the refusals.
  [error]="--lib --test ux --test core --test trust"
  # main: cli the usage errors (exit 2) and --help/--version (exit 0);
  # core every command through the binary.
  [main]="--test cli --test core --test ux"
  # cli: cli maps every value enum to the library's variant by name.
  [cli]="--test cli --test ux"
)
# Tests to leave out, per module (libtest --skip), when they are slow and
# what they check is covered by a faster test in the same targets.
declare -A SKIP=(
  [seipd]="every_damaged_backup_fails_with_a_reason"
  [literal]="every_damaged_backup_fails_with_a_reason"
  [decrypt]="every_damaged_backup_fails_with_a_reason"
  [envelope]="every_damaged_backup_fails_with_a_reason"
  [origin]="every_damaged_backup_fails_with_a_reason"
  [session]="every_damaged_backup_fails_with_a_reason"
  [fast]="every_damaged_backup_fails_with_a_reason"
  [stock]="every_damaged_backup_fails_with_a_reason"
  [io]="every_damaged_backup_fails_with_a_reason"
  [pipeline]="every_damaged_backup_fails_with_a_reason"
  [compress]="every_damaged_backup_fails_with_a_reason"
  [packet]="every_damaged_backup_fails_with_a_reason"
)
ORDER=(policy files config seipd literal envelope decrypt replay origin session fast stock io pipeline
       encrypt signing expiry rekey keys digest escrow service agent generate inspect compress check
       progress packet settings time extend commands error main cli)

# Each exclusion against the mutants cargo-mutants makes of the tree as it
# is (`--list` reads the source only: a second). Fails if one matches none.
check_exclusions() {
  local show=$1 listed
  listed=$(mktemp)
  local status=0
  cargo mutants --list --no-config >"$listed"
  python3 - "$listed" "$show" <<'PY' || status=$?
import re, sys, tomllib
names = open(sys.argv[1]).read().splitlines()
show = sys.argv[2] == "show"
with open(".cargo/mutants.toml", "rb") as config:
    patterns = tomllib.load(config).get("exclude_re", [])
dead = []
for pattern in patterns:
    hits = [name for name in names if re.search(pattern, name)]
    if not hits:
        dead.append(pattern)
    if show:
        print(f"{len(hits)}  {pattern}")
        for name in hits:
            print(f"      {name}")
for pattern in dead:
    print(f"mutants.sh: the exclusion {pattern!r} in .cargo/mutants.toml names no mutant: "
          "the code it meant has moved or gone; point it at the mutant it was judged for "
          "(cargo mutants --list --no-config), or delete it", file=sys.stderr)
sys.exit(1 if dead else 0)
PY
  rm -f "$listed"
  return $status
}

if [ "${1:-}" = --exclusions ]; then
  check_exclusions show
  exit
fi
check_exclusions quiet

modules=("$@")
[ ${#modules[@]} -gt 0 ] || modules=("${ORDER[@]}")
for module in "${modules[@]}"; do
  [ -n "${FILE[$module]:-}" ] || { echo "unknown module '$module'; one of: ${ORDER[*]}" >&2; exit 2; }
done

status=0
mkdir -p target/mutants
for module in "${modules[@]}"; do
  echo "== $module (${FILE[$module]})"
  # The test targets go to every cargo call (--cargo-arg), the build too:
  # after `--` they reach only the test run, and the build would compile
  # all 18 test targets for each mutant (25-35 s instead of a few).
  targets=()
  # shellcheck disable=SC2086 # TESTS holds several words on purpose
  for word in ${TESTS[$module]}; do targets+=("--cargo-arg=$word"); done
  # --in-place: a copy of the tree would rebuild every dependency first (the
  # build scripts' absolute paths change), minutes per module. So the tree
  # itself is mutated, one mutant at a time, and restored after each run:
  # do not edit it while this runs. One mutant at a time (no --jobs).
  skips=()
  # shellcheck disable=SC2086 # each holds several test names on purpose
  for name in ${SKIP[$module]:-} ${MUTANTS_SKIP:-}; do skips+=(--skip "$name"); done
  # shellcheck disable=SC2086 # MUTANTS_ARGS holds several words on purpose
  cargo mutants --in-place --file "${FILE[$module]}" \
    --output "target/mutants/$module" "${targets[@]}" ${MUTANTS_ARGS:-} \
    -- -- "${skips[@]}" || status=$?
  # A mutant that loops can leave a sealpipe a timed-out test spawned
  # spinning on its own (it took both cores from a benchmark once): kill
  # any binary of this tree's build still running.
  pkill -KILL -f "^$PWD/target/debug/sealpipe" || true
done
exit $status
