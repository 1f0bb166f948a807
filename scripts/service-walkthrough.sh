#!/usr/bin/env bash
# The service platform's story walked for real against `vxassist demo`: the web
# console in Debian's headless chromium (Playwright, never its own browser), the
# host's own commands, the demo's mail folder; a picture per step into
# docs/service-walkthrough/ (arguments pass through, e.g. --out DIR --keep).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || { echo "service-walkthrough: run scripts/setup.sh first" >&2; exit 1; }
exec .venv/bin/python scripts/service_walkthrough.py "$@"
