#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh Debian machine
# (headless chromium for the browser test), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -f tests/install-browser.sh ]; then
  bash tests/install-browser.sh
  # With the browser installed, a missing browser is a failure, not a skip.
  export LOOPCAST_REQUIRE_BROWSER=1
fi
cargo test --all-targets --no-fail-fast "$@"
