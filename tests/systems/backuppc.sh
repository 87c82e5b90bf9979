#!/usr/bin/env bash
# BackupPC 4.4 (Debian's backuppc package): the BackupPC server (unix socket
# only, no TCP) and BackupPC_dump make a real full backup of a temp dir
# (XferMethod tar, on this host); then contrib/backuppc/sealpipe-backuppc-archive
# (BackupPC_tarCreate | sealpipe encrypt, docs/backuppc.md) archives it on
# two nights, and plain gpg | zstd -d | tar -x restores identical files.
#
# BackupPC reads /etc/backuppc: the test adds a host `sealpipe-e2e` (its own
# .pl file and a line in hosts) and removes both, and the host's backups
# under /var/lib/backuppc/pc/, when it ends.
source "$(dirname "$0")/lib.sh"
set -o pipefail
need_root
# The server refuses to start without smbclient and nmblookup (its default
# XferMethod is smb), which Debian only recommends.
ensure_pkgs backuppc smbclient samba-common-bin zstd gnupg
make_workdir

HOST=sealpipe-e2e
BPC=/usr/share/backuppc/bin
HOSTS=/etc/backuppc/hosts
SERVER_PID=
LOCK_EXISTED=$(ls /etc/backuppc/LOCK 2>/dev/null || true)
cleanup() {
  # Delete the backup through BackupPC first, so the pool's reference
  # counts drop and BackupPC_nightly can reclaim its chunks.
  if [ -d "/var/lib/backuppc/pc/$HOST/0" ]; then
    (cd / && timeout 60 runuser -u backuppc -- "$BPC/BackupPC_backupDelete" -h "$HOST" -n 0) >/dev/null 2>&1 || true
  fi
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
  fi
  [ -f "$WORK/hosts.saved" ] && cp "$WORK/hosts.saved" "$HOSTS"
  rm -rf "/etc/backuppc/$HOST.pl" "/var/lib/backuppc/pc/$HOST"
  [ -n "$LOCK_EXISTED" ] || rm -f /etc/backuppc/LOCK   # the server's config lock
  [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
[ -f /run/backuppc/BackupPC.pid ] && kill -0 "$(cat /run/backuppc/BackupPC.pid)" 2>/dev/null \
  && fail "a BackupPC server is already running; this test starts its own"

KEYS=$WORK/keys
install_example_keys "$KEYS"
mkdir -p "$WORK/bin"
ln -s "$SEALPIPE" "$WORK/bin/sealpipe"

# Data the backuppc user can read (BackupPC runs tar as backuppc here).
DATA=$WORK/data
mkdir -p "$DATA/sub"
head -c 500000 /dev/urandom > "$DATA/random.bin"
seq 1 100000 > "$DATA/sub/numbers.txt"
echo "hello backuppc" > "$DATA/hello.txt"
chmod -R a+rX "$DATA"
( cd "$DATA" && find . -type f -print0 | sort -z | xargs -0 sha256sum ) > "$WORK/want.sha256"

note "a BackupPC host for $DATA"
cp "$HOSTS" "$WORK/hosts.saved"
echo "$HOST 0 backuppc" >> "$HOSTS"
cat > "/etc/backuppc/$HOST.pl" <<CONF
\$Conf{XferMethod} = 'tar';
\$Conf{ClientNameAlias} = 'localhost';
\$Conf{PingCmd} = '';
\$Conf{TarShareName} = ['$DATA'];
\$Conf{TarClientCmd} = '/usr/bin/env LC_ALL=C \$tarPath -c -v -f - -C \$shareName --totals';
\$Conf{TarFullArgs} = '\$fileList';
\$Conf{TarIncrArgs} = '--newer=\$incrDate \$fileList';
CONF
chmod 644 "/etc/backuppc/$HOST.pl"

note "start the BackupPC server (unix socket only) and make a full backup"
install -d -o backuppc -g backuppc /run/backuppc
runuser -u backuppc -- "$BPC/BackupPC" > "$WORK/server.out" 2>&1 &
SERVER_PID=$!
for i in $(seq 1 50); do
  [ -S /run/backuppc/BackupPC.sock ] && break
  [ "$i" = 50 ] && { cat "$WORK/server.out"; fail "the BackupPC server did not start"; }
  sleep 0.2
done
(cd / && timeout 300 runuser -u backuppc -- "$BPC/BackupPC_dump" -f -v "$HOST") > "$WORK/dump.out" 2>&1 \
  || { tail -30 "$WORK/dump.out"; fail "BackupPC_dump failed"; }
grep -q "full backup complete" "$WORK/dump.out" || { tail -30 "$WORK/dump.out"; fail "BackupPC_dump did not complete a full backup"; }

note "archive, two nights: contrib/backuppc/sealpipe-backuppc-archive"
ARCHIVES=$WORK/archives/backuppc
for night in 1 2; do
  SEALPIPE_CONFIG=$KEYS/sealpipe.toml PATH=$WORK/bin:$PATH \
    "$REPO_ROOT/contrib/backuppc/sealpipe-backuppc-archive" "$HOST" "$DATA" "$ARCHIVES" \
      2>"$WORK/archive.$night.err" \
    || { cat "$WORK/archive.$night.err"; fail "night $night: the archive script failed"; }
  if [ "$night" = 1 ]; then sleep 1; fi  # the names carry the time to the second
done
mapfile -t nights < <(ls "$ARCHIVES/$HOST"-*.tar.pgp)
[ ${#nights[@]} = 2 ] || fail "two nights left ${#nights[@]} archives: ${nights[*]}"
for f in "${nights[@]}"; do
  [ "$(head -c 1 "$f" | od -An -tx1 | tr -d ' ')" = c1 ] || fail "$f is not an OpenPGP message"
  "$SEALPIPE" inspect --config "$KEYS/sealpipe.toml" "$f" >/dev/null || fail "$f does not conform to the policy"
done

note "plain gpg restores identical files"
export GNUPGHOME=$WORK/gnupg
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --import "$KEYS/daily.key.asc" 2>/dev/null
mkdir "$WORK/restore"
gpg --batch --quiet -d "${nights[1]}" 2>/dev/null | zstd -dq | tar -x -C "$WORK/restore" \
  || fail "gpg -d | zstd -d | tar -x failed"
( cd "$WORK/restore" && find . -type f -print0 | sort -z | xargs -0 sha256sum ) > "$WORK/got.sha256"
cmp -s "$WORK/want.sha256" "$WORK/got.sha256" || fail "restored files differ: $(diff "$WORK/want.sha256" "$WORK/got.sha256" | head)"
gpgconf --homedir "$GNUPGHOME" --kill gpg-agent 2>/dev/null || true

note "a refusal fails the archive and leaves no file"
sed -i 's/^fingerprint = "0/fingerprint = "1/' "$KEYS/sealpipe.toml"
if SEALPIPE_CONFIG=$KEYS/sealpipe.toml PATH=$WORK/bin:$PATH \
    "$REPO_ROOT/contrib/backuppc/sealpipe-backuppc-archive" "$HOST" "$DATA" "$ARCHIVES" 2>"$WORK/refused.err"; then
  fail "the archive script succeeded with a wrong pin"
fi
grep -q "encryption refused" "$WORK/refused.err" || fail "no refusal reason: $(cat "$WORK/refused.err")"
[ "$(ls "$ARCHIVES" | wc -l)" = 2 ] || fail "a refused run left a file: $(ls "$ARCHIVES")"

echo "PASS backuppc"
