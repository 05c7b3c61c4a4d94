#!/usr/bin/env bash
# Installs Debian's redis-server for tests/cluster.rs when it is missing. The
# tests start their own redis-server on a free port; this only installs it.
# Non-interactive; runs as root, or through sudo.
set -euo pipefail

if command -v redis-server >/dev/null; then
    echo "redis-server already installed"
    exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null; then
        SUDO="sudo"
    else
        echo "install-redis.sh: must run as root (or have sudo) to apt-get install redis-server" >&2
        exit 1
    fi
fi

if ! command -v apt-get >/dev/null; then
    echo "install-redis.sh: needs apt-get (Debian); install redis-server by hand" >&2
    exit 1
fi

$SUDO apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server
# The package starts a system-wide instance on 6379; the tests do not use it.
