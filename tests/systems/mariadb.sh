#!/usr/bin/env bash
# End to end with MariaDB: the nightly script contrib/mariadb/sealpipe-mariabackup
# (mariabackup --stream=xbstream | sealpipe encrypt) run on two nights, then
# sealpipe decrypt | mbstream -x of the second, --prepare, start a second server on
# the restored datadir and compare table checksums. A truncated backup must
# make the restore pipeline fail.
source "$(dirname "$0")/lib.sh"
set -o pipefail
need_root
ensure_pkgs mariadb-server mariadb-backup
make_workdir

KEYS=$WORK/keys
install_example_keys "$KEYS"
CONF=$KEYS/sealpipe.toml
SERVERS=()
cleanup() {
  for pid in "${SERVERS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${SERVERS[@]}"; do while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done; done
  [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT

# start_server DATADIR SOCKET: a private server, no TCP, owned by mysql.
start_server() {
  local datadir=$1 sock=$2
  mariadbd --no-defaults --user=mysql --datadir="$datadir" --socket="$sock" \
    --pid-file="$datadir/pid" --skip-networking --innodb-buffer-pool-size=64M \
    --log-error="$datadir/error.log" &
  SERVERS+=($!)
  for _ in $(seq 1 100); do
    mariadb --no-defaults -S "$sock" -u root -e 'SELECT 1' >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  tail -20 "$datadir/error.log" >&2
  fail "mariadbd on $datadir did not start"
}

sql() { mariadb --no-defaults -S "$1" -u root -N -B -e "$2"; }

note "source server"
mkdir -p "$WORK/src"
chown mysql:mysql "$WORK/src"
mariadb-install-db --no-defaults --user=mysql --datadir="$WORK/src" --auth-root-authentication-method=normal >/dev/null 2>&1 \
  || fail "mariadb-install-db failed"
start_server "$WORK/src" "$WORK/src/mysqld.sock"
sql "$WORK/src/mysqld.sock" "
  CREATE DATABASE shop; USE shop;
  CREATE TABLE shop.orders (id INT PRIMARY KEY, customer VARCHAR(40), total DECIMAL(10,2), note TEXT) ENGINE=InnoDB;
  CREATE TABLE shop.audit (id INT PRIMARY KEY, event VARCHAR(80)) ENGINE=Aria;
  INSERT INTO shop.orders SELECT seq, CONCAT('customer-', seq % 977), seq * 1.25, REPEAT(MD5(seq), 4) FROM seq_1_to_20000;
  INSERT INTO shop.audit SELECT seq, CONCAT('event ', SHA1(seq)) FROM seq_1_to_5000;"
checksums() { sql "$1" "CHECKSUM TABLE shop.orders, shop.audit EXTENDED" | awk '{print $1, $2}'; }
before=$(checksums "$WORK/src/mysqld.sock")
[ -n "$before" ] || fail "no checksum from the source"

note "backup, two nights: contrib/mariadb/sealpipe-mariabackup (docs/xtrabackup.md)"
# The documented nightly script, as cron would run it: the default config
# comes from SEALPIPE_CONFIG, sealpipe from PATH, the backup directory does
# not exist yet. The second run must not collide with the first.
mkdir -p "$WORK/bin"
ln -sf "$SEALPIPE" "$WORK/bin/sealpipe"
BACKUPS=$WORK/backups/mariadb
for night in 1 2; do
  SEALPIPE_CONFIG=$CONF PATH=$WORK/bin:$PATH \
    "$REPO_ROOT/contrib/mariadb/sealpipe-mariabackup" "$BACKUPS" \
      --socket="$WORK/src/mysqld.sock" --user=root 2>"$WORK/mariabackup.$night.log" \
    || { tail -20 "$WORK/mariabackup.$night.log"; fail "night $night: the backup script failed"; }
  if [ "$night" = 1 ]; then sleep 1; fi  # the names carry the time to the second
done
mapfile -t nights < <(ls "$BACKUPS"/mariadb-*.xb.pgp)
[ ${#nights[@]} = 2 ] || fail "two nights left ${#nights[@]} backups: ${nights[*]}"
"$SEALPIPE" verify --config "$CONF" "${nights[0]}" >/dev/null || fail "the first night's backup does not verify"
cp "${nights[1]}" "$WORK/nightly.xb.pgp"
head -c 1 "$WORK/nightly.xb.pgp" | od -An -tx1 | grep -q 'c1' || fail "backup is not OpenPGP (no PKESK first)"
"$SEALPIPE" inspect --config "$CONF" "$WORK/nightly.xb.pgp" >/dev/null || fail "inspect: backup does not conform"

note "restore: sealpipe decrypt | mbstream -x; prepare; start"
mkdir -p "$WORK/restore"
"$SEALPIPE" decrypt --config "$CONF" < "$WORK/nightly.xb.pgp" | mbstream -x -C "$WORK/restore" \
  || fail "restore pipeline failed"
mariabackup --prepare --target-dir="$WORK/restore" >"$WORK/prepare.log" 2>&1 \
  || { tail -20 "$WORK/prepare.log"; fail "mariabackup --prepare failed"; }
chown -R mysql:mysql "$WORK/restore"
start_server "$WORK/restore" "$WORK/restore/mysqld.sock"
after=$(checksums "$WORK/restore/mysqld.sock")
[ "$before" = "$after" ] || fail "checksums differ: source [$before] restored [$after]"
note "checksums equal: $(echo $after)"

note "a truncated backup must fail the restore"
size=$(stat -c %s "$WORK/nightly.xb.pgp")
head -c $((size / 2)) "$WORK/nightly.xb.pgp" > "$WORK/truncated.pgp"
mkdir -p "$WORK/restore2"
if "$SEALPIPE" decrypt --config "$CONF" < "$WORK/truncated.pgp" 2>"$WORK/trunc.err" | mbstream -x -C "$WORK/restore2"; then
  fail "restore of a truncated backup succeeded"
fi
grep -Eq "truncated|integrity check failed" "$WORK/trunc.err" || fail "no reason given: $(cat "$WORK/trunc.err")"
# docs/xtrabackup.md promises exit 6 (bad input) for a cut-off backup.
rc=0; "$SEALPIPE" decrypt --config "$CONF" < "$WORK/truncated.pgp" >/dev/null 2>&1 || rc=$?
[ "$rc" = 6 ] || fail "a truncated backup gave exit $rc, not 6"

note "plain gpg restores it too"
export GNUPGHOME=$WORK/gnupg
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --import "$KEYS/daily.key.asc" 2>/dev/null
mkdir -p "$WORK/restore3"
gpg --batch --quiet -d "$WORK/nightly.xb.pgp" 2>/dev/null | zstd -dq | mbstream -x -C "$WORK/restore3" \
  || fail "gpg -d | zstd -d | mbstream -x failed"
[ -f "$WORK/restore3/xtrabackup_checkpoints" ] || fail "gpg restore lacks xtrabackup_checkpoints"

gpgconf --homedir "$GNUPGHOME" --kill gpg-agent 2>/dev/null || true
echo "PASS mariadb"
