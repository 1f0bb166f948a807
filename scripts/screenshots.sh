#!/usr/bin/env bash
# Pictures of every window for README.md: Xvfb with trayer as the tray, then
# scripts/screenshots.py (arguments pass through, e.g. --only tray home).
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/with-tray.sh 1280x800 .venv/bin/python scripts/screenshots.py "$@"
