#!/usr/bin/env bash
# Install sealpipe from this checkout and prove it works: build deps from
# apt, `cargo install`, then a round trip through the EXAMPLE keys.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo install --locked --quiet --path .
export PATH="$HOME/.cargo/bin:$PATH"

# The example keys are public (they are in git): for trying the tool only.
demo=$(mktemp -d)
trap 'rm -rf "$demo"' EXIT
cp keys-example/* "$demo"/
chmod 600 "$demo"/*.key.asc
echo "sealpipe works: $(date -u)" \
  | sealpipe encrypt --config "$demo/sealpipe.toml" \
  | sealpipe decrypt --config "$demo/sealpipe.toml"
echo "installed: $(command -v sealpipe) ($(sealpipe --version))"
