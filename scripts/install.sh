#!/usr/bin/env bash
# Install sealpipe from this checkout and prove it works.
#
#   scripts/install.sh               as root: build the Debian package
#                                    (scripts/package.sh) and install it with
#                                    apt: /usr/bin/sealpipe, man pages,
#                                    completions, docs in /usr/share/doc/sealpipe
#   scripts/install.sh --prefix DIR  without root: DIR/bin/sealpipe,
#                                    DIR/share/man/man1, completions under
#                                    DIR/share (the build packages must already
#                                    be installed, see scripts/deps.sh)
#
# Then a round trip through the EXAMPLE keys (public, for trying only).
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=
case "${1:-}" in
  --prefix) prefix=${2:?usage: scripts/install.sh [--prefix DIR]} ;;
  "") ;;
  *) echo "usage: scripts/install.sh [--prefix DIR]" >&2; exit 2 ;;
esac

if [ -z "$prefix" ]; then
  [ "$(id -u)" = 0 ] || { echo "install: run as root to install the package, or give --prefix DIR" >&2; exit 1; }
  deb=$(scripts/package.sh)
  # --reinstall: a rebuilt package of the same version replaces the old one.
  log=$(mktemp)
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --reinstall "./$deb" >"$log" 2>&1 \
    || { cat "$log" >&2; rm -f "$log"; echo "install: apt-get install ./$deb failed" >&2; exit 1; }
  rm -f "$log"
  sealpipe=/usr/bin/sealpipe
else
  scripts/deps.sh
  mkdir -p "$prefix"
  prefix=$(cd "$prefix" && pwd)
  cargo install --locked --quiet --path . --root "$prefix"
  sealpipe=$prefix/bin/sealpipe
  "$sealpipe" generate man "$prefix/share/man/man1"
  mkdir -p "$prefix/share/bash-completion/completions" "$prefix/share/zsh/site-functions" \
           "$prefix/share/fish/vendor_completions.d"
  "$sealpipe" generate completion bash > "$prefix/share/bash-completion/completions/sealpipe"
  "$sealpipe" generate completion zsh > "$prefix/share/zsh/site-functions/_sealpipe"
  "$sealpipe" generate completion fish > "$prefix/share/fish/vendor_completions.d/sealpipe.fish"
fi

demo=$(mktemp -d)
trap 'rm -rf "$demo"' EXIT
cp keys-example/* "$demo"/
chmod 600 "$demo"/*.key.asc
echo "sealpipe works: $(date -u)" \
  | "$sealpipe" encrypt --config "$demo/sealpipe.toml" \
  | "$sealpipe" decrypt --config "$demo/sealpipe.toml"
echo "installed: $sealpipe ($("$sealpipe" --version))"
