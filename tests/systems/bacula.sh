#!/usr/bin/env bash
# Bacula 9.6 with real daemons: bacula-dir (sqlite3 catalog), bacula-sd with a
# file device and bacula-fd, all on 127.0.0.1 in a temp dir, driven by
# bconsole. The Job and FileSet come from docs/bacula.md (paths redirected
# into the temp dir): a Full backup through the bpipe Plugin lines, a restore
# through their writers, byte-compared; the volume must not hold the
# plaintext; signed backups restore through a restore host's allowed_signers
# and are refused (nothing written) by one that does not list the signer; a
# wrong pin must make the job fail (status f), not end "OK -- with warnings".
source "$(dirname "$0")/lib.sh"
set -o pipefail
need_root
ensure_pkgs bacula-director bacula-director-sqlite3 bacula-sd bacula-fd bacula-console sqlite3
[ -f /usr/lib/bacula/bpipe-fd.so ] || fail "bacula-fd installed but /usr/lib/bacula/bpipe-fd.so is missing"
make_workdir

DAEMONS=()
cleanup() {
  for pid in "${DAEMONS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${DAEMONS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  done
  [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT

KEYS=$WORK/keys
install_example_keys "$KEYS"
mkdir -p "$WORK/bin" "$WORK/where" "$WORK/dir" "$WORK/sd" "$WORK/fd" "$WORK/run" "$WORK/volumes"
ln -s "$SEALPIPE" "$WORK/bin/sealpipe"

# Test data: a small tree with a marker that must never reach the volume in
# clear, and a single dump file.
MARKER="sealpipe-bacula-plaintext-marker-$$"
mkdir -p "$WORK/srv/data/sub"
head -c 300000 /dev/urandom > "$WORK/srv/data/blob.bin"
seq 1 50000 > "$WORK/srv/data/sub/numbers.txt"
for _ in $(seq 1 200); do echo "$MARKER"; done > "$WORK/srv/data/marker.txt"
ln -s sub/numbers.txt "$WORK/srv/data/link"
seq 1 20000 | sed 's/.*/INSERT INTO t VALUES (&);/' > "$WORK/shop.sql"

# redirect: the documented text with its paths moved into $WORK.
redirect() {
  sed -e "s|/etc/bacula/scripts/|$REPO_ROOT/contrib/bacula/|g" \
      -e "s|/usr/bin/sealpipe|$WORK/bin/sealpipe|g" \
      -e "s|/srv/data|$WORK/srv/data|g" \
      -e "s|/var/backups/shop.sql|$WORK/shop.sql|g"
}
# doc_block NAME: the indented block of docs/bacula.md that starts with
# "NAME {" (a FileSet or Job resource), up to its closing brace.
doc_block() {
  awk -v start="^    $1 \\\\{" '$0 ~ start {on=1} on {print substr($0, 5)} on && /^    \}/ {exit}' \
    "$REPO_ROOT/docs/bacula.md"
}
fileset=$(doc_block FileSet | redirect)
job=$(doc_block Job | redirect)
grep -q 'Plugin = "bpipe:' <<<"$fileset" || fail "docs/bacula.md has no FileSet with bpipe Plugin lines"
grep -q 'Name = "sealed-backup"' <<<"$job" || fail "docs/bacula.md has no Job named sealed-backup"

DIR_PORT=39101 FD_PORT=39102 SD_PORT=39103
cat > "$WORK/bacula-dir.conf" <<CONF
Director {
  Name = e2e-dir
  DIRport = $DIR_PORT
  DirAddress = 127.0.0.1
  QueryFile = "/etc/bacula/scripts/query.sql"
  WorkingDirectory = "$WORK/dir"
  PidDirectory = "$WORK/run"
  Maximum Concurrent Jobs = 1
  Password = "e2e-console-pass"
  Messages = Daemon
}
Catalog {
  Name = MyCatalog
  dbname = "bacula"; dbuser = ""; dbpassword = ""
}
Client {
  Name = backup-client
  Address = 127.0.0.1
  FDPort = $FD_PORT
  Catalog = MyCatalog
  Password = "e2e-fd-pass"
  AutoPrune = no
}
Storage {
  Name = File
  Address = 127.0.0.1
  SDPort = $SD_PORT
  Password = "e2e-sd-pass"
  Device = FileStorage
  Media Type = File
}
Pool {
  Name = Default
  Pool Type = Backup
  Label Format = "Vol-"
  Maximum Volume Jobs = 1
  AutoPrune = no
}
Messages {
  Name = Standard
  console = all, !skipped, !saved
  append = "$WORK/dir/jobs.log" = all, !skipped
  catalog = all
}
Messages {
  Name = Daemon
  console = all, !skipped, !saved
  append = "$WORK/dir/daemon.log" = all, !skipped
}
Job {
  Name = "restore-files"
  Type = Restore
  Client = backup-client
  FileSet = "sealed-files"
  Storage = File
  Pool = Default
  Messages = Standard
  Where = "$WORK/where"
}
$fileset
$job
CONF
cat > "$WORK/bacula-sd.conf" <<CONF
Storage {
  Name = e2e-sd
  SDPort = $SD_PORT
  SDAddress = 127.0.0.1
  WorkingDirectory = "$WORK/sd"
  PidDirectory = "$WORK/run"
}
Director {
  Name = e2e-dir
  Password = "e2e-sd-pass"
}
Device {
  Name = FileStorage
  Media Type = File
  Archive Device = "$WORK/volumes"
  LabelMedia = yes
  Random Access = yes
  AutomaticMount = yes
  RemovableMedia = no
  AlwaysOpen = no
}
Messages {
  Name = Standard
  director = e2e-dir = all
}
CONF
cat > "$WORK/bacula-fd.conf" <<CONF
FileDaemon {
  Name = backup-client
  FDport = $FD_PORT
  FDAddress = 127.0.0.1
  WorkingDirectory = "$WORK/fd"
  PidDirectory = "$WORK/run"
  Plugin Directory = /usr/lib/bacula
}
Director {
  Name = e2e-dir
  Password = "e2e-fd-pass"
}
Messages {
  Name = Standard
  director = e2e-dir = all, !skipped, !restored
}
CONF
cat > "$WORK/bconsole.conf" <<CONF
Director {
  Name = e2e-dir
  DIRport = $DIR_PORT
  address = 127.0.0.1
  Password = "e2e-console-pass"
}
CONF

note "catalog (sqlite3) and config checks"
sed -e "s|^cd /var/lib/bacula|cd $WORK/dir|" -e 's/XXX_DBNAME_XXX/bacula/' \
  /usr/share/bacula-director/make_sqlite3_tables | sh >/dev/null || fail "cannot create the sqlite3 catalog"
bacula-dir -t -c "$WORK/bacula-dir.conf" || fail "bacula-dir rejects its config (from docs/bacula.md)"
bacula-sd -t -c "$WORK/bacula-sd.conf" || fail "bacula-sd rejects its config"
bacula-fd -t -c "$WORK/bacula-fd.conf" || fail "bacula-fd rejects its config"

note "start bacula-sd, bacula-fd, bacula-dir on 127.0.0.1"
# The file daemon runs the bpipe commands: it gets the test's config (it
# stands in for /etc/sealpipe/sealpipe.toml) and finds `sealpipe` on PATH.
bacula-sd -f -c "$WORK/bacula-sd.conf" > "$WORK/sd.out" 2>&1 &
DAEMONS+=($!)
SEALPIPE_CONFIG=$KEYS/sealpipe.toml PATH=$WORK/bin:$PATH \
  bacula-fd -f -c "$WORK/bacula-fd.conf" > "$WORK/fd.out" 2>&1 &
DAEMONS+=($!)
bacula-dir -f -c "$WORK/bacula-dir.conf" > "$WORK/dir.out" 2>&1 &
DAEMONS+=($!)

# console COMMANDS: run bconsole with a time limit; its output on stdout.
console() { timeout 240 bconsole -n -c "$WORK/bconsole.conf" <<<"$1"; }
for i in $(seq 1 50); do
  console "status client=backup-client" 2>/dev/null | grep -q "backup-client Version" && break
  [ "$i" = 50 ] && { cat "$WORK"/*.out; fail "the Bacula daemons did not come up"; }
  sleep 0.3
done

# job_field JOBID FIELD: a field of `llist jobid=` (e.g. jobstatus, joberrors).
job_field() {
  console "llist jobid=$1" | sed -n "s/^ *$2: *//Ip" | head -1 | tr -d ' '
}

note "Full backup through the Plugin lines of docs/bacula.md"
console "run job=sealed-backup level=Full yes
wait
messages" > "$WORK/backup.out" || fail "bconsole failed: $(cat "$WORK/backup.out")"
status=$(job_field 1 jobstatus) errors=$(job_field 1 joberrors)
[ "$status" = T ] && [ "$errors" = 0 ] \
  || { cat "$WORK/backup.out"; fail "backup job: status '$status', $errors errors (want T, 0)"; }
grep -q "Backup OK$" "$WORK/dir/jobs.log" || { cat "$WORK/dir/jobs.log"; fail "the job log does not say Backup OK"; }
ls "$WORK"/volumes/Vol-* >/dev/null 2>&1 || fail "no volume written"
if grep -rqa "$MARKER" "$WORK/volumes"; then fail "the volume holds the plaintext"; fi

note "restore through the writers, byte-compared"
console "restore jobid=1 client=backup-client where=$WORK/where all done yes
wait
messages" > "$WORK/restore.out" || fail "bconsole restore failed: $(cat "$WORK/restore.out")"
rjob=$(console "list jobs" | awk -F'|' '$0 ~ /restore-files/ {gsub(/[ ,]/, "", $2); print $2}' | tail -1)
[ -n "$rjob" ] || { cat "$WORK/restore.out"; fail "no restore job in the catalog"; }
rstatus=$(job_field "$rjob" jobstatus)
[ "$rstatus" = T ] || { cat "$WORK/restore.out" "$WORK/dir/jobs.log"; fail "restore job status '$rstatus' (want T)"; }
( cd "$WORK/srv/data" && find . -type f -print0 | sort -z | xargs -0 sha256sum ) > "$WORK/want"
( cd "$WORK/where/srv-data" && find . -type f -print0 | sort -z | xargs -0 sha256sum ) > "$WORK/got" \
  || fail "nothing restored to $WORK/where/srv-data"
cmp -s "$WORK/want" "$WORK/got" || fail "restored tree differs: $(diff "$WORK/want" "$WORK/got" | head)"
[ -L "$WORK/where/srv-data/link" ] || fail "symlink not restored"
cmp -s "$WORK/shop.sql" "$WORK/where/shop.sql" || fail "restored dump differs"

# restore_job JOBID WHERE: restore a backup job through the writers into WHERE;
# prints the restore job's status.
restore_job() {
  console "restore jobid=$1 client=backup-client where=$2 all done yes
wait
messages" > "$WORK/restore.$1.out" || fail "bconsole restore failed: $(cat "$WORK/restore.$1.out")"
  local r
  r=$(console "list jobs" | awk -F'|' '$0 ~ /restore-files/ {gsub(/[ ,]/, "", $2); print $2}' | tail -1)
  [ -n "$r" ] || { cat "$WORK/restore.$1.out"; fail "no restore job in the catalog"; }
  echo "$(job_field "$r" jobstatus) $(job_field "$r" joberrors)"
}
# last_backup_job: the id of the newest sealed-backup job.
last_backup_job() {
  console "list jobs" | awk -F'|' '$0 ~ /sealed-backup/ {gsub(/[ ,]/, "", $2); print $2}' | tail -1
}

note "signed: [sign] on the reader side, allowed_signers on the writer side, nothing on stderr"
"$SEALPIPE" keygen --config "$KEYS/sealpipe.toml" --sign --name bacula-host --expires never \
  --cert-out "$KEYS/bacula-host.cert.asc" --key-out "$KEYS/bacula-host.key.asc" \
  | grep -E '^[0-9A-F]{40}$' > "$KEYS/allowed-signers"
[ -s "$KEYS/allowed-signers" ] || fail "keygen --sign printed no fingerprint line"
chmod 644 "$KEYS/bacula-host.cert.asc" "$KEYS/allowed-signers"
# The example config ends in [decrypt]: the two lines join it, then [sign].
printf '%s\n' 'allowed_signers = "allowed-signers"' 'signer_certs = ["bacula-host.cert.asc"]' \
  '[sign]' 'key = "bacula-host.key.asc"' >> "$KEYS/sealpipe.toml"
: > "$WORK/dir/jobs.log"
console "run job=sealed-backup level=Full yes
wait
messages" > "$WORK/signed.out" || fail "bconsole failed: $(cat "$WORK/signed.out")"
sjob=$(last_backup_job)
[ "$(job_field "$sjob" jobstatus) $(job_field "$sjob" joberrors)" = "T 0" ] \
  || { cat "$WORK/signed.out"; fail "the signed backup job did not end T with 0 errors"; }
read -r rstatus rerrors < <(restore_job "$sjob" "$WORK/where-signed")
[ "$rstatus $rerrors" = "T 0" ] || { cat "$WORK/dir/jobs.log"; fail "signed restore: status '$rstatus', $rerrors errors (want T, 0)"; }
( cd "$WORK/where-signed/srv-data" && find . -type f -print0 | sort -z | xargs -0 sha256sum ) > "$WORK/got-signed" \
  || fail "nothing restored to $WORK/where-signed/srv-data"
cmp -s "$WORK/want" "$WORK/got-signed" || fail "signed restore: tree differs"
cmp -s "$WORK/shop.sql" "$WORK/where-signed/shop.sql" || fail "signed restore: dump differs"
if grep -q "sealpipe: " "$WORK/dir/jobs.log"; then
  cat "$WORK/dir/jobs.log"; fail "sealpipe wrote to stderr in a signed backup or restore"
fi

note "a restore host that does not list the backup's signer refuses it and writes nothing"
# The daily key's fingerprint: a real key, but not the one that signed.
echo 049523D7912BD3BCB3721A9E313397A6DCD8C489 > "$KEYS/allowed-signers"
cp "$KEYS/daily.cert.asc" "$KEYS/other-signer.cert.asc"
sed -i 's/^signer_certs = .*/signer_certs = ["bacula-host.cert.asc", "other-signer.cert.asc"]/' "$KEYS/sealpipe.toml"
read -r rstatus rerrors < <(restore_job "$sjob" "$WORK/where-unlisted")
[ "$rstatus $rerrors" != "T 0" ] \
  || { cat "$WORK/dir/jobs.log"; fail "a restore of a backup by an unlisted signer ended T with no errors"; }
grep -q "sealpipe: error: .*sign" "$WORK/dir/jobs.log" \
  || { cat "$WORK/dir/jobs.log"; fail "the job log does not give sealpipe's reason for the refused restore"; }
[ ! -e "$WORK/where-unlisted/shop.sql" ] || fail "decrypt -o left a shop.sql from a refused backup"
[ -z "$(ls -A "$WORK/where-unlisted/srv-data" 2>/dev/null)" ] || fail "the refused backup released files"
# Back to the unsigned setup for the pin test below.
sed -i '/^allowed_signers = /d; /^signer_certs = /d; /^\[sign\]$/d; /^key = "bacula-host.key.asc"$/d' "$KEYS/sealpipe.toml"

note "a wrong pin makes the job fail, not 'OK -- with warnings'"
sed -i 's/^fingerprint = "0/fingerprint = "1/; s/^fingerprint = "F/fingerprint = "E/' "$KEYS/sealpipe.toml"
console "run job=sealed-backup level=Full yes
wait
messages" > "$WORK/refused.out" || fail "bconsole failed: $(cat "$WORK/refused.out")"
fjob=$(console "list jobs" | awk -F'|' '$0 ~ /sealed-backup/ {gsub(/[ ,]/, "", $2); print $2}' | tail -1)
fstatus=$(job_field "$fjob" jobstatus)
case "$fstatus" in
  f|E) ;;
  *) cat "$WORK/refused.out"; fail "a refused encryption left the job with status '$fstatus' (want f or E)" ;;
esac
grep -q "encryption refused" "$WORK/dir/jobs.log" || { cat "$WORK/dir/jobs.log"; fail "the job log does not give sealpipe's reason"; }

echo "PASS bacula"
