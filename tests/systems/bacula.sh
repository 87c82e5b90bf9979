#!/usr/bin/env bash
# Bacula bpipe: run the READER and WRITER commands documented in
# docs/bacula.md exactly as bpipe-fd does (split on spaces, no shell, stdout
# stored, stored bytes on stdin, %w = restore where), with paths redirected
# into a temp dir. Checks restored files byte for byte, and that a policy
# refusal fails the reader.
source "$(dirname "$0")/lib.sh"
set -o pipefail
need_root
ensure_pkgs bacula-fd
[ -f /usr/lib/bacula/bpipe-fd.so ] || fail "bacula-fd installed but /usr/lib/bacula/bpipe-fd.so is missing"
make_workdir

KEYS=$WORK/keys
install_example_keys "$KEYS"
export SEALPIPE_CONFIG=$KEYS/sealpipe.toml   # stands in for /etc/sealpipe/sealpipe.toml
mkdir -p "$WORK/bin" "$WORK/where"
ln -s "$SEALPIPE" "$WORK/bin/sealpipe"
export PATH=$WORK/bin:$PATH

# Test data: a small tree, and a single dump file.
mkdir -p "$WORK/srv/data/sub"
head -c 300000 /dev/urandom > "$WORK/srv/data/blob.bin"
seq 1 50000 > "$WORK/srv/data/sub/numbers.txt"
ln -s sub/numbers.txt "$WORK/srv/data/link"
seq 1 20000 | sed 's/.*/INSERT INTO t VALUES (&);/' > "$WORK/shop.sql"

# redirect CMD: the documented command with its paths moved into $WORK.
redirect() {
  sed -e "s|/etc/bacula/scripts/|$REPO_ROOT/contrib/bacula/|g" \
      -e "s|/usr/local/bin/sealpipe|$WORK/bin/sealpipe|g" \
      -e "s|/srv/data|$WORK/srv/data|g" \
      -e "s|/var/backups/shop.sql|$WORK/shop.sql|g" \
      -e "s|%w|$WORK/where|g" <<<"$1"
}

# bpipe_run CMD [STDIN_FILE]: split on spaces and exec, as bpipe does.
bpipe_run() {
  local -a argv
  read -r -a argv <<<"$1"
  if [ -n "${2:-}" ]; then "${argv[@]}" < "$2"; else "${argv[@]}" < /dev/null; fi
}

mapfile -t plugins < <(grep -o 'Plugin = "bpipe:/[^"]*"' "$REPO_ROOT/docs/bacula.md" | sed 's/^Plugin = "//; s/"$//')
[ ${#plugins[@]} -ge 2 ] || fail "docs/bacula.md documents fewer than 2 bpipe Plugin lines"

for plugin in "${plugins[@]}"; do
  IFS=: read -r kind vpath reader writer extra <<<"$plugin"
  [ "$kind" = bpipe ] && [ -n "$reader" ] && [ -n "$writer" ] && [ -z "$extra" ] \
    || fail "malformed Plugin line (a ':' inside a command?): $plugin"
  note "$vpath"
  stored=$WORK/stored$(echo "$vpath" | tr / _)
  bpipe_run "$(redirect "$reader")" > "$stored" || fail "reader failed: $reader"
  [ "$(head -c 1 "$stored" | od -An -tx1 | tr -d ' ')" = c1 ] || fail "stored bytes are not an OpenPGP message"
  "$SEALPIPE" inspect "$stored" > /dev/null || fail "stored backup does not conform to the policy"
  bpipe_run "$(redirect "$writer")" "$stored" || fail "writer failed: $writer"
done

note "compare restored files"
( cd "$WORK/srv/data" && find . -type f -print0 | sort -z | xargs -0 sha256sum ) > "$WORK/want"
( cd "$WORK/where/srv-data" && find . -type f -print0 | sort -z | xargs -0 sha256sum ) > "$WORK/got"
cmp -s "$WORK/want" "$WORK/got" || fail "restored tree differs: $(diff "$WORK/want" "$WORK/got" | head)"
[ -L "$WORK/where/srv-data/link" ] || fail "symlink not restored"
cmp -s "$WORK/shop.sql" "$WORK/where/shop.sql" || fail "restored dump differs"

note "a policy refusal fails the reader (and so the job)"
sed -i 's/^fingerprint = "0/fingerprint = "1/; s/^fingerprint = "F/fingerprint = "E/' "$SEALPIPE_CONFIG"
IFS=: read -r _ _ reader _ <<<"${plugins[0]}"
if bpipe_run "$(redirect "$reader")" > "$WORK/refused" 2> "$WORK/refused.err"; then
  fail "reader succeeded with a wrong pin"
fi
grep -q "encryption refused" "$WORK/refused.err" || fail "no refusal reason: $(cat "$WORK/refused.err")"
[ ! -s "$WORK/refused" ] || fail "a refused reader wrote $(stat -c %s "$WORK/refused") bytes"

echo "PASS bacula"
