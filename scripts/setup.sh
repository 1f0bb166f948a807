#!/usr/bin/env bash
# Set up a fresh Debian/Ubuntu machine for vxassist: system packages the agent,
# the relay and the tests use, then a virtual environment with vxassist in it.
# Safe to run again; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(
  openssh-server openssh-client libnss-wrapper   # the relay and the engineer's client
  xvfb trayer xauth                              # a display and a tray for UI tests
  libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxcb-xkb1 libxkbcommon-x11-0
  libxcb-render-util0 libxcb-image0 libxcb-shape0 libegl1 libgl1 libfontconfig1 libdbus-1-3
  postgresql                                     # the desk's production store, for its tests
  nginx openssl                                  # the desk's reverse proxy, for the deploy tests
  sqlite3 python3-venv
  asciinema                                      # plays the session recordings (README.md)
  chromium                                       # the web console's browser tests and screenshots
)

if command -v apt-get >/dev/null 2>&1; then
  missing=()
  for p in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "setup: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[${VXASSIST_EXTRAS:-desk,test}]"
echo "setup: ready (.venv/bin/vxassist)"
