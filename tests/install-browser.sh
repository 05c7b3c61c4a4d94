#!/usr/bin/env bash
# Installs Debian's chromium and chromium-driver for tests/browser.rs when either is missing.
# Non-interactive; must run as root (CI runs it before `LOOPCAST_REQUIRE_BROWSER=1 cargo test`).
set -euo pipefail

if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
    echo "chromium and chromedriver already installed"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "install-browser.sh: must run as root to apt-get install chromium" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null; then
    echo "install-browser.sh: needs apt-get (Debian); install chromium and chromedriver by hand" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends chromium chromium-driver fonts-dejavu-core

/usr/bin/chromium --version
/usr/bin/chromedriver --version
