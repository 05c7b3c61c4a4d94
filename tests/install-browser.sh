#!/usr/bin/env bash
# Installs Debian's chromium and chromium-driver for tests/browser.rs when either is missing.
# Non-interactive; runs as root, or through sudo (CI runs it before `LOOPCAST_REQUIRE_BROWSER=1 cargo test`).
set -euo pipefail

if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
    echo "chromium and chromedriver already installed"
    exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null; then
        SUDO="sudo"
    else
        echo "install-browser.sh: must run as root (or have sudo) to apt-get install chromium" >&2
        exit 1
    fi
fi

if ! command -v apt-get >/dev/null; then
    echo "install-browser.sh: needs apt-get (Debian); install chromium and chromedriver by hand" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    chromium chromium-driver fonts-dejavu-core

/usr/bin/chromium --version
/usr/bin/chromedriver --version
