#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite (the remote-session tests on
# both event loops). Extra arguments go to pytest, for one run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export QT_QPA_PLATFORM=offscreen DBUS_SESSION_BUS_ADDRESS=disabled:
if [ $# -eq 0 ]; then
  # the whole run also holds the code to its lint, format and type rules
  .venv/bin/ruff check .
  .venv/bin/ruff format --check .
  .venv/bin/mypy src/vxassist
  # the agent's bundle, built once and checked by its own self-test; the package
  # tests (tests/installer) install it as an administrator would
  scripts/build-bundle.sh
  export VXASSIST_BUNDLE_DIR="$PWD/dist/bundle/vxassist"
  # two workers, a test file each at a time: most tests wait on real servers
  .venv/bin/python -m pytest -q -n 2 --dist loadfile
  # the agent runs on uvloop where it is built, on asyncio's own loop elsewhere
  # (Windows): the remote-session tests run once more on the stock loop
  exec env VXASSIST_EVENT_LOOP=asyncio .venv/bin/python -m pytest -q -n 2 --dist loadfile \
    tests/remote tests/e2e
fi
exec .venv/bin/python -m pytest -q "$@"
