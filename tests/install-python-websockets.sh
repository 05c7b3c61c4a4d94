#!/usr/bin/env bash
# Makes target/pyenv, a Python venv with the `websockets` package, for tests/deflate_python.rs
# (a second, independent permessage-deflate implementation). Installs python3-venv with apt-get
# when the venv module is missing (fresh Debian), as root or through sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=target/pyenv
VERSION=17.4
if "$VENV/bin/python" -c "import websockets, sys; sys.exit(websockets.__version__ != '$VERSION')" 2>/dev/null; then
    echo "python websockets $VERSION already in $VENV"
    exit 0
fi
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c "import ensurepip" 2>/dev/null; then
    SUDO=""
    [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv
fi
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "websockets==$VERSION"
