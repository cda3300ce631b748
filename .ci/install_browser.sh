#!/usr/bin/env bash
# Install Debian's headless-capable chromium for tests/io/test_html_browser.py.
# Idempotent: does nothing when /usr/bin/chromium already exists. Needs root (or sudo).
# Playwright for Python drives it (pip install playwright; never `playwright install`,
# which downloads its own browser).
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium fonts-dejavu-core
/usr/bin/chromium --version
