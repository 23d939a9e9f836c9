#!/usr/bin/env bash
# Installs everything Gatehouse needs to build and test, idempotently.
# Warm runs take about a second; a fresh machine takes several minutes.
# Only the package registries are used (crates.io, npm, Debian apt): see shared TOOLCHAIN notes.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS="${GATEHOUSE_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/gatehouse-tools}"
WANT_BROWSER="${1:-}"

say() { printf '[setup] %s\n' "$*" >&2; }
missing() { say "MISSING: $*"; exit 1; }

command -v cargo >/dev/null || missing "cargo/rustup (install Rust with rustup: https://rustup.rs)"
command -v node >/dev/null || missing "Node.js 20+ and npm"

# Rust toolchain + wasm target (rust-toolchain.toml names both; rustup installs on first use).
if ! rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown; then
  say "adding Rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# Pinned cargo tools in a per-user cache shared by every clone.
mkdir -p "$TOOLS/bin"
install_tool() { # crate version binary [--locked]
  local crate=$1 version=$2 bin=$3 locked=${4:-}
  # Not `grep -q`: it stops reading at the first match, and a tool that prints more (geckodriver)
  # then dies of SIGPIPE, which pipefail turns into "not installed": a reinstall on every run.
  if [ -x "$TOOLS/bin/$bin" ] && "$TOOLS/bin/$bin" --version 2>/dev/null | grep "$version" >/dev/null; then return; fi
  say "installing $crate $version (one-time, a few minutes)"
  cargo install --quiet --root "$TOOLS" $locked "$crate" --version "$version" --force
}
# wasm-bindgen-cli must equal the wasm-bindgen crate pinned in Cargo.toml; not --locked (TOOLCHAIN.md).
install_tool wasm-bindgen-cli 0.2.130 wasm-bindgen
install_tool wasm-pack 0.15.1 wasm-pack --locked
install_tool worker-build 0.8.7 worker-build --locked
if [ "$WANT_BROWSER" = "--browser" ]; then
  # Firefox's WebDriver, for the browser crates' tests in Firefox (crates registry).
  install_tool geckodriver 0.37.1 geckodriver
fi

# npm packages (wrangler, miniflare, esbuild, binaryen, test clients) from package-lock.json.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi

# Chromium + driver and Firefox ESR for browser tests (Debian packages).
if [ "$WANT_BROWSER" = "--browser" ]; then
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null || ! command -v firefox-esr >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      say "installing Debian chromium, chromium-driver and firefox-esr"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver firefox-esr >/dev/null
    else
      missing "chromium, chromedriver and firefox-esr (Debian: apt-get install chromium chromium-driver firefox-esr)"
    fi
  fi
fi
