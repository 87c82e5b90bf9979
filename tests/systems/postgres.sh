#!/usr/bin/env bash
# End to end with PostgreSQL 15: the nightly script
# contrib/postgres/sealpipe-pg-basebackup (pg_basebackup -Ft -X fetch -D - |
# sealpipe encrypt) run on two nights, then sealpipe decrypt | tar -x, start the restored cluster and
# compare a checksum query. pg_basebackup runs as postgres; sealpipe runs as
# root on the other side of the pipe, where the keys are.
source "$(dirname "$0")/lib.sh"
set -o pipefail
need_root
ensure_pkgs postgresql-15
make_workdir

PGBIN=/usr/lib/postgresql/15/bin
KEYS=$WORK/keys
install_example_keys "$KEYS"
CONF=$KEYS/sealpipe.toml
DATA=$WORK/pgdata RESTORED=$WORK/restored RUN=$WORK/run
cleanup() {
  for d in "$DATA" "$RESTORED"; do
    [ -f "$d/postmaster.pid" ] && su postgres -c "$PGBIN/pg_ctl -D $d -m immediate stop" >/dev/null 2>&1
  done
  [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT

as_pg() { su postgres -s /bin/bash -c "$*"; }
psql_at() { as_pg "$PGBIN/psql -h $RUN -p $1 -d postgres -XAtq -c \"$2\""; }
start() { # DATADIR PORT
  as_pg "$PGBIN/pg_ctl -D $1 -l $1/log -w -o \"-c listen_addresses='' -c unix_socket_directories=$RUN -p $2\" start" >/dev/null \
    || { tail -20 "$1/log"; fail "postgres on $1 did not start"; }
}

mkdir -p "$DATA" "$RUN"
chown postgres:postgres "$DATA" "$RUN"
note "source cluster"
as_pg "$PGBIN/initdb -D $DATA -A trust -U postgres" >/dev/null || fail "initdb failed"
start "$DATA" 54321
psql_at 54321 "CREATE TABLE orders AS SELECT g AS id, md5(g::text) AS customer, g * 1.25 AS total FROM generate_series(1, 50000) g; CREATE INDEX ON orders (customer);"
QUERY="SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY id)) FROM orders t"
before=$(psql_at 54321 "$QUERY")
[ -n "$before" ] || fail "no checksum from the source"

note "backup, two nights: contrib/postgres/sealpipe-pg-basebackup (docs/postgres.md)"
# The documented nightly script as cron would run it (as root): config from
# SEALPIPE_CONFIG, sealpipe from PATH, the backup directory not there yet.
mkdir -p "$WORK/bin"
ln -sf "$SEALPIPE" "$WORK/bin/sealpipe"
BACKUPS=$WORK/backups/postgresql
for night in 1 2; do
  SEALPIPE_CONFIG=$CONF PATH=$WORK/bin:$PATH \
    "$REPO_ROOT/contrib/postgres/sealpipe-pg-basebackup" "$BACKUPS" -h "$RUN" -p 54321 -U postgres \
      2>"$WORK/basebackup.$night.log" \
    || { cat "$WORK/basebackup.$night.log"; fail "night $night: the backup script failed"; }
  [ ! -s "$WORK/basebackup.$night.log" ] || note "night $night said: $(cat "$WORK/basebackup.$night.log")"
  if [ "$night" = 1 ]; then sleep 1; fi  # the names carry the time to the second
done
mapfile -t nights < <(ls "$BACKUPS"/pg-base-*.tar.pgp)
[ ${#nights[@]} = 2 ] || fail "two nights left ${#nights[@]} backups: ${nights[*]}"
"$SEALPIPE" verify --config "$CONF" "${nights[0]}" >/dev/null || fail "the first night's backup does not verify"
cp "${nights[1]}" "$WORK/base.tar.pgp"

note "restore: sealpipe decrypt | tar -x; start"
mkdir -p "$RESTORED"
"$SEALPIPE" decrypt --config "$CONF" < "$WORK/base.tar.pgp" | tar -x -C "$RESTORED" \
  || fail "restore pipeline failed"
chown -R postgres:postgres "$RESTORED"
chmod 700 "$RESTORED"
[ "$(cat "$RESTORED/PG_VERSION")" = 15 ] || fail "restored PG_VERSION is not 15"
start "$RESTORED" 54322   # /usr/lib/postgresql/$(cat PG_VERSION)/bin/pg_ctl, as docs/postgres.md says
after=$(psql_at 54322 "$QUERY")
[ "$before" = "$after" ] || fail "checksum differs: source $before restored $after"
note "checksums equal: $after"

note "a damaged backup must fail the restore"
cp "$WORK/base.tar.pgp" "$WORK/bad.pgp"
# Flip one bit in the middle (an XOR always changes the byte).
mid=$(( $(stat -c %s "$WORK/bad.pgp") / 2 ))
byte=$(od -An -tu1 -j "$mid" -N1 "$WORK/bad.pgp" | tr -d ' ')
printf "\\$(printf '%03o' $(( byte ^ 1 )))" | dd of="$WORK/bad.pgp" bs=1 seek="$mid" conv=notrunc status=none
cmp -s "$WORK/base.tar.pgp" "$WORK/bad.pgp" && fail "the damage did not change the file"
mkdir -p "$WORK/restore-bad"
if "$SEALPIPE" decrypt --config "$CONF" < "$WORK/bad.pgp" 2>"$WORK/bad.err" | tar -x -C "$WORK/restore-bad" 2>/dev/null; then
  fail "restore of a damaged backup succeeded"
fi
"$SEALPIPE" decrypt --config "$CONF" < "$WORK/bad.pgp" >/dev/null 2>&1 && fail "sealpipe decrypt exited 0 on a damaged backup"
grep -q "sealpipe: error:" "$WORK/bad.err" || fail "no reason on stderr"

note "plain gpg restores it too"
export GNUPGHOME=$WORK/gnupg
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --import "$KEYS/daily.key.asc" 2>/dev/null
gpg --batch --quiet -d "$WORK/base.tar.pgp" 2>/dev/null | zstd -dq | tar -t > "$WORK/listing" \
  || fail "gpg -d | zstd -d | tar -t failed"
grep -Eq '^(\./)?PG_VERSION$' "$WORK/listing" || fail "the gpg-restored tar lacks PG_VERSION"

gpgconf --homedir "$GNUPGHOME" --kill gpg-agent 2>/dev/null || true
echo "PASS postgres"
