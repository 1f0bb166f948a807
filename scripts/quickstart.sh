#!/usr/bin/env bash
# Set up and run vxassist's main job on embedded defaults: the one-machine demo.
set -euo pipefail
cd "$(dirname "$0")/.."
VXASSIST_EXTRAS="${VXASSIST_EXTRAS:-desk}" scripts/setup.sh
exec .venv/bin/vxassist demo --headless "$@"
