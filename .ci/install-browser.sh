#!/bin/sh
# Install Debian's Chromium and a Chinese font for the browser tests (idempotent).
# Playwright drives /usr/bin/chromium directly; never run `playwright install`.
set -eu
if [ -x /usr/bin/chromium ] && fc-list 2>/dev/null | grep -qi "wenquanyi\|wqy"; then
    echo "chromium and fonts already installed"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium fonts-wqy-microhei
