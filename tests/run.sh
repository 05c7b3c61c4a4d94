#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh Debian machine
# (headless chromium for the browser test, redis-server for the cluster
# tests), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -f tests/install-browser.sh ]; then
  bash tests/install-browser.sh
  # With the browser installed, a missing browser is a failure, not a skip.
  export LOOPCAST_REQUIRE_BROWSER=1
fi
if [ -f tests/install-redis.sh ]; then
  bash tests/install-redis.sh
  # With redis-server installed, a missing one is a failure, not a skip.
  export LOOPCAST_REQUIRE_REDIS=1
fi
# Python `websockets`: the second permessage-deflate implementation in tests/deflate_python.rs.
bash tests/install-python-websockets.sh
export LOOPCAST_PYTHON="$PWD/target/pyenv/bin/python" LOOPCAST_REQUIRE_PYTHON_WS=1
cargo test --no-fail-fast "$@"
