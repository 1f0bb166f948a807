#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export QT_QPA_PLATFORM=offscreen DBUS_SESSION_BUS_ADDRESS=disabled:
if [ $# -eq 0 ]; then
  # the whole run also holds the code to its lint, format and type rules
  .venv/bin/ruff check .
  .venv/bin/ruff format --check .
  .venv/bin/mypy src/vxassist
fi
exec .venv/bin/python -m pytest -q "$@"
