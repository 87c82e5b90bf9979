#!/usr/bin/env bash
# Install the Debian packages sealpipe needs to build (nettle backend of
# sequoia; capnproto, the Cap'n Proto compiler that sequoia-gpg-agent's build
# runs) and package (dpkg-dev: cargo-deb's dependency scan), to restore
# (gpg, zstd; gfsplit/gfcombine from libgfshare-bin for escrow) and, with
# --for-tests, to run its tests (time; man-db renders the generated man
# pages; lintian checks the package; bindfs mounts the FUSE filesystem
# without O_TMPFILE that tests/output.rs writes to). Quiet; only what is
# missing.
set -euo pipefail

pkgs=(nettle-dev clang libclang-dev pkg-config capnproto dpkg-dev gnupg zstd libgfshare-bin)
if [ "${1:-}" = --for-tests ]; then pkgs+=(time man-db lintian python3 strace bindfs); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "need root (or sudo) to apt-get install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "installing: ${missing[*]}"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
