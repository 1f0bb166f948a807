#!/usr/bin/env bash
# The tray app's whole story, walked for real under Xvfb with trayer as the tray:
# scripts/walkthrough.py drives it and saves a picture of the screen per step
# into docs/walkthrough/ (arguments pass through, e.g. --out DIR --keep).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v ssh >/dev/null || { echo "walkthrough: ssh is missing; run scripts/setup.sh" >&2; exit 1; }
exec scripts/with-tray.sh 1280x860 .venv/bin/python scripts/walkthrough.py "$@"
