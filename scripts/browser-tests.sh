#!/usr/bin/env bash
# Browser tests of the trace viewer and the Explorer command, in headless Chromium.
#
# Installs what it needs, and only what is missing, so that a second run is fast:
#   - Debian's chromium (/usr/bin/chromium), with apt-get (the script runs as root in CI);
#   - playwright-core, pinned in tests/browser/package.json and package-lock.json (npm ci;
#     it drives the installed Chromium and downloads no browser of its own).
# Then builds the binary with the test profile (a no-op after `cargo test`, which builds it so)
# and runs tests/browser/viewer.test.mjs.
#
# Usage: scripts/browser-tests.sh [--screenshots DIR]
#   --screenshots  also save the README's PNGs into DIR: trace-explorer.png (the Directus
#                  10.11.1 follow-up page at its last step) and trace-side-by-side.png
#                  (`scripts/browser-tests.sh --screenshots docs` makes the committed ones).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

screenshots=""
if [[ "${1:-}" == "--screenshots" ]]; then
  screenshots="$(realpath -m "${2:?--screenshots needs a folder}")"
  mkdir -p "$screenshots"
fi

if [[ ! -x /usr/bin/chromium ]]; then
  echo "browser-tests: installing Debian's chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi

cd "$root/tests/browser"
# npm ci only when node_modules is missing or older than the lock file.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "browser-tests: npm ci"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
fi

cd "$root"
cargo build --quiet --profile test --bin refresh-check
export REFRESH_CHECK_BIN="$root/target/debug/refresh-check"
export CHROMIUM=/usr/bin/chromium
if [[ -n "$screenshots" ]]; then
  export SCREENSHOTS="$screenshots"
fi
cd "$root/tests/browser"
node --test --test-concurrency=1 --test-reporter=spec viewer.test.mjs
