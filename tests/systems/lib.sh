#!/usr/bin/env bash
# Shared helpers for the end-to-end tests against real backup programs.
# Sourced by tests/systems/*.sh; each script is run by a Rust wrapper test
# (tests/systems.rs) with SEALPIPE set to the binary under test.
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "--- $*"; }

: "${SEALPIPE:?SEALPIPE must name the sealpipe binary under test}"
[ -x "$SEALPIPE" ] || fail "SEALPIPE=$SEALPIPE is not an executable"

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export REPO_ROOT

# These tests install Debian packages and run daemons as other users: they need
# root and apt. Never skip silently: a missing prerequisite is a failure.
need_root() {
  [ "$(id -u)" = 0 ] || fail "this test needs root (it installs Debian packages and runs services as other users)"
}

# ensure_pkgs PKG...: install the Debian packages that are missing, quietly.
ensure_pkgs() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  need_root
  command -v apt-get >/dev/null || fail "apt-get not found; install by hand: ${missing[*]}"
  note "installing ${missing[*]}"
  # Serialise apt across tests that run in parallel.
  flock /tmp/sealpipe-apt.lock bash -c '
    export DEBIAN_FRONTEND=noninteractive
    # Package lists older than a day are refreshed first.
    if [ -z "$(find /tmp/sealpipe-apt-updated -mmin -1440 2>/dev/null)" ]; then
      apt-get update -qq && touch /tmp/sealpipe-apt-updated
    fi
    # The tests start the daemons they need themselves, on loopback only:
    # the packages must not start theirs (bacula-dir, apache2, exim4,
    # mariadb, postgresql) on every interface. policy-rc.d 101 = "do not
    # start" for the time of the install (Docker images already have one).
    guard=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && guard=1
    fi
    rc=0
    apt-get install -y -qq --no-install-recommends "$@" >/tmp/sealpipe-apt.log 2>&1 || rc=$?
    [ -z "$guard" ] || rm -f /usr/sbin/policy-rc.d
    [ "$rc" = 0 ] || { tail -30 /tmp/sealpipe-apt.log; exit 1; }
  ' _ "${missing[@]}" || fail "apt-get install ${missing[*]} failed"
}

# make_workdir: a fresh temp dir, removed on exit unless KEEP=1.
make_workdir() {
  WORK=$(mktemp -d /tmp/sealpipe-systest.XXXXXX)
  chmod 755 "$WORK"
  if [ "${KEEP:-0}" != 1 ]; then trap 'rm -rf "$WORK"' EXIT; fi
  export WORK
}

# install_example_keys DIR [OWNER]: copy keys-example/ into DIR with the modes
# sealpipe insists on (config and certs not group/world writable, secret keys 0600).
install_example_keys() {
  local dir=$1 owner=${2:-}
  mkdir -p "$dir"
  cp "$REPO_ROOT"/keys-example/* "$dir"/
  chmod 644 "$dir"/*
  chmod 600 "$dir"/*.key.asc
  # The example config names its files relative to itself.
  [ -z "$owner" ] || chown "$owner" "$dir"/*.key.asc
}
