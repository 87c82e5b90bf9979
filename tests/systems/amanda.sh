#!/usr/bin/env bash
# End to end with Amanda 3.5: a throwaway config (auth local, chg-disk
# virtual tapes, a holding disk, one disklist entry on localhost) whose
# dumptype encrypts through sealpipe, first on the client (encrypt client),
# then on the server (encrypt server). amdump as `backup` must report no
# STRANGE and no FAILED; the stored image must be OpenPGP; amfetchdump | tar
# must restore identical files; plain gpg must restore the raw image. Then a
# wrong pin must make the dump FAIL with sealpipe's reason in the report, on
# the client and on the server (where Amanda also records a 0 KB "OK PARTIAL"
# entry that must not restore). Signed: a client with [sign] and a restore with
# allowed_signers; a dump replaced on the vtape by plain gpg to the same certs
# must fail amfetchdump's restore, and restores without the list.
#
# Amanda calls the filter with no arguments (encrypt) and with -d (decrypt),
# so sealpipe reads the default config: /etc/sealpipe/sealpipe.toml. This
# test installs the example keys there and puts back what was there before.
source "$(dirname "$0")/lib.sh"
set -o pipefail
need_root
ensure_pkgs amanda-server amanda-client tar libencode-locale-perl
make_workdir

CONFIG=sealpipe-e2e
ETC_SEALPIPE=/etc/sealpipe
SAVED=$WORK/etc-sealpipe.saved
cleanup() {
  rm -rf "/etc/amanda/$CONFIG"
  rm -rf "$ETC_SEALPIPE"
  [ -e "$SAVED" ] && mv "$SAVED" "$ETC_SEALPIPE"
  [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
[ -e "$ETC_SEALPIPE" ] && mv "$ETC_SEALPIPE" "$SAVED"

# The keys as a real install would have them: config and certs root-owned and
# world-readable; the secret key (needed for restores) 0600 owned by backup.
install_example_keys "$ETC_SEALPIPE" backup
chmod 755 "$ETC_SEALPIPE"
# The filter path as docs/amanda.md has it: the package's /usr/bin/sealpipe.
# Another binary under test is copied where the backup user can run it.
FILTER=$SEALPIPE
if [ "$SEALPIPE" != /usr/bin/sealpipe ]; then
  install -m 755 "$SEALPIPE" "$WORK/sealpipe"
  FILTER=$WORK/sealpipe
fi
chmod 755 "$WORK"

as_backup() { su backup -s /bin/bash -c "$*"; }

# Data to back up: files with a few MB.
DATA=$WORK/data
mkdir -p "$DATA/sub"
head -c 2000000 /dev/urandom > "$DATA/random.bin"
seq 1 300000 > "$DATA/sub/numbers.txt"
echo "hello amanda" > "$DATA/hello.txt"
( cd "$DATA" && find . -type f -print0 | sort -z | xargs -0 sha256sum ) > "$WORK/want.sha256"

# write_config WHERE: an Amanda config that encrypts on the client or the server.
write_config() {
  local where=$1
  rm -rf "/etc/amanda/$CONFIG" "$WORK/state" "$WORK/vtapes" "$WORK/holding"
  mkdir -p "/etc/amanda/$CONFIG" "$WORK/state/curinfo" "$WORK/state/log" "$WORK/state/index" \
           "$WORK/vtapes" "$WORK/holding"
  for s in 1 2 3; do mkdir -p "$WORK/vtapes/slot$s"; done
  chown -R backup:backup "$WORK/state" "$WORK/vtapes" "$WORK/holding"
  cat > "/etc/amanda/$CONFIG/amanda.conf" <<EOF
org "$CONFIG"
mailto ""
dumpuser "backup"
inparallel 1
netusage 100000 Kbps
dumpcycle 0
runspercycle 1
tapecycle 3
runtapes 1
tpchanger "chg-disk:$WORK/vtapes"
labelstr "^E2E-[0-9][0-9]*\$"
autolabel "E2E-%%" empty
tapetype "DISK"
infofile "$WORK/state/curinfo"
logdir "$WORK/state/log"
indexdir "$WORK/state/index"
define tapetype DISK {
  length 1024 mbytes
}
holdingdisk hd1 {
  directory "$WORK/holding"
  use 200 mbytes
}
define dumptype sealed {
  program "GNUTAR"
  auth "local"
  compress none
  index yes
  record no
  estimate server
  encrypt $where
  ${where}_encrypt "$FILTER"
  ${where}_decrypt_option "-d"
}
EOF
  echo "localhost $DATA sealed" > "/etc/amanda/$CONFIG/disklist"
  chown -R backup:backup "/etc/amanda/$CONFIG"
}

# latest_report: the text of the report of the last run.
# (amtrmlog moves the log of a run that wrote no tape to oldlog/ at once,
# so take the newest non-trivial log wherever it is.)
latest_report() {
  local log
  log=$(find "$WORK/state/log" -name 'log.*.0' -size +100c -printf '%f %p\n' | sort | tail -1 | cut -d' ' -f2)
  [ -n "$log" ] || fail "no Amanda log found"
  rm -f "$WORK/state/report.txt"
  # amreport exits non-zero when the run had problems; the text is what we check.
  as_backup "amreport $CONFIG -l $log -f $WORK/state/report.txt" >/dev/null 2>&1 || true
  cat "$WORK/state/report.txt"
}

# run_dump WHERE: amdump, check the report, the image, and two restores.
run_dump() {
  local where=$1
  note "encrypt $where: amdump"
  write_config "$where"
  as_backup "amcheck -s $CONFIG" > "$WORK/amcheck.$where" 2>&1 || { cat "$WORK/amcheck.$where"; fail "amcheck -s failed"; }
  as_backup "amdump $CONFIG" || { latest_report; fail "amdump ($where) exited non-zero"; }
  latest_report > "$WORK/report.$where"
  grep -q "STRANGE" "$WORK/report.$where" && { cat "$WORK/report.$where"; fail "report shows STRANGE ($where)"; }
  grep -q "FAILED" "$WORK/report.$where" && { cat "$WORK/report.$where"; fail "report shows FAILED ($where)"; }
  grep -Eq "localhost +$DATA|localhost .*$(basename "$DATA")" "$WORK/report.$where" \
    || { cat "$WORK/report.$where"; fail "report does not list the dump ($where)"; }

  note "encrypt $where: the image on the vtape is OpenPGP"
  rm -rf "$WORK/fetched" && mkdir "$WORK/fetched" && chown backup "$WORK/fetched"
  as_backup "amfetchdump -a -l -O $WORK/fetched $CONFIG localhost $DATA" </dev/null >/dev/null 2>"$WORK/fetch.err.$where" \
    || { cat "$WORK/fetch.err.$where"; fail "amfetchdump -l failed"; }
  local image
  image=$(ls "$WORK"/fetched/localhost.* | head -1)
  [ -f "$image" ] || fail "no raw image fetched"
  # The dump header records the filter; -l leaves the data as stored.
  grep -q "crypt enc ${where}_encrypt $FILTER ${where}_decrypt_option -d" "$WORK/fetch.err.$where" \
    || { cat "$WORK/fetch.err.$where"; fail "the dump header does not record sealpipe as the $where filter"; }
  mv "$image" "$WORK/payload.$where.pgp"
  [ "$(head -c 1 "$WORK/payload.$where.pgp" | od -An -tx1 | tr -d ' ')" = c1 ] || fail "stored data is not an OpenPGP message"
  "$SEALPIPE" inspect --config "$ETC_SEALPIPE/sealpipe.toml" "$WORK/payload.$where.pgp" > /dev/null \
    || fail "stored data does not conform to the policy"

  note "encrypt $where: amfetchdump -p | tar -x restores identical files"
  rm -rf "$WORK/restore" && mkdir "$WORK/restore" && chown backup "$WORK/restore"
  # pipefail: amfetchdump (and the sealpipe -d it runs) must succeed, not only tar.
  as_backup "set -o pipefail; amfetchdump -a -p $CONFIG localhost $DATA 2>$WORK/fetched/fetch2.err </dev/null | tar -x -C $WORK/restore" \
    || { cat "$WORK/fetched/fetch2.err"; fail "amfetchdump -p | tar -x failed"; }
  if grep -q "sealpipe: " "$WORK/fetched/fetch2.err"; then
    cat "$WORK/fetched/fetch2.err"; fail "sealpipe -d wrote to stderr during the restore ($where)"
  fi
  ( cd "$WORK/restore" && find . -type f -print0 | sort -z | xargs -0 sha256sum ) > "$WORK/got.sha256"
  cmp -s "$WORK/want.sha256" "$WORK/got.sha256" || fail "restored files differ ($where)"

  note "encrypt $where: plain gpg restores the raw image"
  export GNUPGHOME=$WORK/gnupg.$where
  mkdir -m 700 "$GNUPGHOME"
  gpg --batch --quiet --import "$REPO_ROOT/keys-example/daily.key.asc" 2>/dev/null
  gpg --batch --quiet -d "$WORK/payload.$where.pgp" 2>/dev/null | zstd -dq | tar -t > "$WORK/gpg-list.$where" \
    || fail "gpg -d | zstd -d | tar -t failed"
  grep -q "hello.txt" "$WORK/gpg-list.$where" || fail "gpg restore lacks hello.txt"
  gpgconf --homedir "$GNUPGHOME" --kill gpg-agent 2>/dev/null || true
  unset GNUPGHOME
}

run_dump client
run_dump server

note "signed backups: [sign] on the client, allowed_signers for amfetchdump's sealpipe -d"
cp "$ETC_SEALPIPE/sealpipe.toml" "$WORK/sealpipe.toml.unsigned"
"$SEALPIPE" keygen --config "$ETC_SEALPIPE/sealpipe.toml" --sign --name amanda-host --expires never \
  --cert-out "$ETC_SEALPIPE/amanda-host.cert.asc" --key-out "$ETC_SEALPIPE/amanda-host.key.asc" \
  | grep -E '^[0-9A-F]{40}$' > "$ETC_SEALPIPE/allowed-signers"
[ -s "$ETC_SEALPIPE/allowed-signers" ] || fail "keygen --sign printed no fingerprint line"
chown backup "$ETC_SEALPIPE/amanda-host.key.asc"
chmod 644 "$ETC_SEALPIPE/amanda-host.cert.asc" "$ETC_SEALPIPE/allowed-signers"
# The example config ends in [decrypt]: the two lines join it, then [sign].
printf '%s\n' 'allowed_signers = "allowed-signers"' 'signer_certs = ["amanda-host.cert.asc"]' \
  '[sign]' 'key = "amanda-host.key.asc"' >> "$ETC_SEALPIPE/sealpipe.toml"
write_config client
as_backup "amdump $CONFIG" || { latest_report; fail "amdump (signed) exited non-zero"; }
latest_report > "$WORK/report.signed"
grep -q "STRANGE\|FAILED" "$WORK/report.signed" && { cat "$WORK/report.signed"; fail "signed dump: STRANGE or FAILED"; }

# restore_into DIR: amfetchdump -p | tar -x into DIR; its exit status, stderr in DIR.err.
restore_into() {
  rm -rf "$1" "$1.err" && mkdir "$1" && touch "$1.err" && chown backup "$1" "$1.err"
  as_backup "set -o pipefail; amfetchdump -a -p $CONFIG localhost $DATA 2>$1.err </dev/null | tar -x -C $1 2>>$1.err"
}
restore_into "$WORK/restore-signed" || { cat "$WORK/restore-signed.err"; fail "the signed backup did not restore"; }
grep -q "sealpipe: " "$WORK/restore-signed.err" && { cat "$WORK/restore-signed.err"; fail "sealpipe -d wrote to stderr restoring a signed backup"; }
( cd "$WORK/restore-signed" && find . -type f -print0 | sort -z | xargs -0 sha256sum ) > "$WORK/got-signed.sha256"
cmp -s "$WORK/want.sha256" "$WORK/got-signed.sha256" || fail "restored files differ (signed)"

note "a backup replaced on the vtape by plain gpg to the same certs fails the restore"
vfile=$(find "$WORK/vtapes" -type f -name '0*localhost*' | sort | tail -1)
[ -f "$vfile" ] || fail "no dump file on the vtapes"
# A vtape file: Amanda's 32 KiB header, then the data as stored.
[ "$(tail -c +32769 "$vfile" | head -c 1 | od -An -tx1 | tr -d ' ')" = c1 ] \
  || fail "the dump file does not hold OpenPGP after a 32 KiB header"
FORGED=$WORK/forged-data
mkdir -p "$FORGED" && echo "ssh-ed25519 AAAA attacker" > "$FORGED/authorized_keys"
export GNUPGHOME=$WORK/gnupg.forger
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --import "$REPO_ROOT/keys-example/daily.cert.asc" "$REPO_ROOT/keys-example/escrow.cert.asc" 2>/dev/null
{ head -c 32768 "$vfile"; tar -C "$FORGED" -cf - . | gpg --batch --quiet --trust-model always -e \
    -r 049523D7912BD3BCB3721A9E313397A6DCD8C489 -r F309C861DE42271CE5FA93E480EA1AEEB32F5B2D; } > "$WORK/forged.vtape"
gpgconf --homedir "$GNUPGHOME" --kill gpg-agent 2>/dev/null || true
unset GNUPGHOME
cat "$WORK/forged.vtape" > "$vfile"
if restore_into "$WORK/restore-forged"; then
  fail "amfetchdump restored a forged backup although allowed_signers is set"
fi
grep -q "the backup is not signed" "$WORK/restore-forged.err" \
  || { cat "$WORK/restore-forged.err"; fail "the failed restore does not give sealpipe's reason"; }
[ -z "$(ls -A "$WORK/restore-forged")" ] || fail "the forged backup released files: $(ls -A "$WORK/restore-forged")"
# The forgery is a valid backup: without allowed_signers it restores, so the
# refusal above is the signer check and nothing else.
cp "$WORK/sealpipe.toml.unsigned" "$ETC_SEALPIPE/sealpipe.toml"
restore_into "$WORK/restore-forged-unchecked" \
  || { cat "$WORK/restore-forged-unchecked.err"; fail "the forgery does not restore without allowed_signers"; }
[ -f "$WORK/restore-forged-unchecked/authorized_keys" ] || fail "the forgery restored something else"
rm -f "$ETC_SEALPIPE"/amanda-host.* "$ETC_SEALPIPE/allowed-signers"

note "a wrong pin makes the dump FAIL, with the reason in the report"
write_config client
cp "$ETC_SEALPIPE/sealpipe.toml" "$WORK/sealpipe.toml.good"
sed -i 's/^fingerprint = "0/fingerprint = "1/' "$ETC_SEALPIPE/sealpipe.toml"
if as_backup "amdump $CONFIG" > "$WORK/amdump.refused" 2>&1; then
  latest_report; fail "amdump exited 0 although sealpipe refused to encrypt"
fi
latest_report > "$WORK/report.refused"
grep -q "FAILED" "$WORK/report.refused" || { cat "$WORK/report.refused"; fail "a refused encryption did not FAIL the dump"; }
grep -q "STRANGE" "$WORK/report.refused" && { cat "$WORK/report.refused"; fail "a refused encryption shows as STRANGE, not FAILED"; }
grep -q "encryption refused\|not the pinned fingerprint" "$WORK/report.refused" \
  || { cat "$WORK/report.refused"; fail "the report does not give sealpipe's reason"; }

note "server side: a wrong pin FAILs the dump; Amanda still records a 0 KB 'OK PARTIAL' that restores nothing"
# docs/amanda.md describes exactly this.
cp "$WORK/sealpipe.toml.good" "$ETC_SEALPIPE/sealpipe.toml"
write_config server
sed -i 's/^fingerprint = "0/fingerprint = "1/' "$ETC_SEALPIPE/sealpipe.toml"
as_backup "amdump $CONFIG" > "$WORK/amdump.server-refused" 2>&1 || true
latest_report > "$WORK/report.server-refused"
grep -q "FAILED" "$WORK/report.server-refused" || { cat "$WORK/report.server-refused"; fail "a server-side refusal did not FAIL the dump"; }
grep -q "encryption refused" "$WORK/report.server-refused" \
  || { cat "$WORK/report.server-refused"; fail "the report does not give sealpipe's reason (server side)"; }
as_backup "amadmin $CONFIG find localhost" > "$WORK/find.server-refused" 2>&1 || true
grep -q "OK PARTIAL" "$WORK/find.server-refused" \
  || { cat "$WORK/find.server-refused"; fail "no 'OK PARTIAL' entry after a server-side refusal (docs/amanda.md says there is one)"; }
grep -Eq " OK *$" "$WORK/find.server-refused" && { cat "$WORK/find.server-refused"; fail "a refused dump is listed as OK"; }
# Restoring that entry must not hand back data as if it were the backup.
cp "$WORK/sealpipe.toml.good" "$ETC_SEALPIPE/sealpipe.toml"
rm -rf "$WORK/restore-partial" && mkdir "$WORK/restore-partial" && chown backup "$WORK/restore-partial"
fetch_rc=0
as_backup "amfetchdump -a -p $CONFIG localhost $DATA 2>$WORK/restore-partial/err </dev/null >$WORK/restore-partial/out" || fetch_rc=$?
fetched=$(stat -c %s "$WORK/restore-partial/out")
note "amfetchdump of the partial entry: exit $fetch_rc, $fetched bytes; it said: $(tr '\n' ' ' < "$WORK/restore-partial/err" | tail -c 600)"
[ "$fetch_rc" != 0 ] && [ "$fetched" = 0 ] || fail "amfetchdump of a refused dump: exit $fetch_rc with $fetched bytes (want non-zero, 0 bytes)"

echo "PASS amanda"
