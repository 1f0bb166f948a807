#!/usr/bin/env bash
# Build the agent's bundle (tray and headless agent, no desk) with PyInstaller:
#   scripts/build-bundle.sh          -> dist/bundle/vxassist/vxassist
# PyInstaller comes into the project's environment as the `bundle` extra. The
# build runs the bundle's own `vxassist self-test` (and --help, sysinfo, agent
# --help) and fails when any of them does; then it prints the size and the
# start-up time. Set PYINSTALLER_CLEAN=1 to build without PyInstaller's cache.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DIST=$ROOT/dist/bundle
WORK=$ROOT/build/bundle
BUNDLE=$DIST/vxassist

[ -x .venv/bin/python ] || scripts/setup.sh
# PyInstaller through the project's own `bundle` extra, once
.venv/bin/python -c "import PyInstaller" 2>/dev/null || .venv/bin/python -m pip install -q -e ".[bundle]"

SECONDS=0
clean=()
[ "${PYINSTALLER_CLEAN:-0}" = 1 ] && clean=(--clean)
.venv/bin/python -m PyInstaller --noconfirm "${clean[@]}" --log-level WARN \
  --distpath "$DIST" --workpath "$WORK" installer/bundle/vxassist.spec
build_s=$SECONDS

# -- the bundle checks itself, in a home of its own --------------------------------
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
mkdir -p "$home/config"
# a build machine has no keyring: the documented alternative keeps secrets in a file
printf 'secrets_backend = "file"\n' >"$home/config/settings.toml"
export VXASSIST_HOME=$home DBUS_SESSION_BUS_ADDRESS=disabled:
# no display here: Qt is tried on its offscreen platform, which still loads the plugins
[ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] || export QT_QPA_PLATFORM=offscreen

run() {  # a command of the bundle; its output is shown only when it fails
  if ! out=$("$BUNDLE/vxassist" "$@" 2>&1); then
    printf '%s\n' "$out" >&2
    echo "build-bundle: \`vxassist $*\` failed in the bundle; the bundle is not usable." >&2
    exit 1
  fi
}
"$BUNDLE/vxassist" self-test || {
  echo "build-bundle: the bundle's self-test failed (above); the bundle is not usable." >&2
  exit 1
}
run --help
run agent --help
run -m vxassist --version
run sysinfo --json
run -c 'import PySide6.QtWidgets, pyte, uvloop, asyncssh, keyring, holidays, zoneinfo; zoneinfo.ZoneInfo("America/Los_Angeles")'

# -- figures ------------------------------------------------------------------------
startup() {  # best of 3 wall-clock runs of `vxassist "$@"`, in ms
  local best=""
  for _ in 1 2 3; do
    local t0 t1 ms
    t0=$(date +%s%N); "$BUNDLE/vxassist" "$@" >/dev/null; t1=$(date +%s%N)
    ms=$(((t1 - t0) / 1000000))
    if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
  done
  echo "$best"
}
size=$(du -sh "$BUNDLE" | cut -f1)
echo "build-bundle: $BUNDLE/vxassist"
echo "build-bundle: size $size, PyInstaller ${build_s} s, start-up $(startup --version) ms" \
  "(--version), $(startup --help) ms (--help)"
