#!/usr/bin/env bash
# Build the Debian package of the agent from its bundle:
#   scripts/build-deb.sh             -> dist/vxassist_VERSION_ARCH.deb
# It builds the bundle first (scripts/build-bundle.sh, which runs the bundle's
# self-test); VXASSIST_BUNDLE_DIR=dist/bundle/vxassist uses one built before.
# Only dpkg-deb is needed. Install with `apt install ./dist/vxassist_*.deb`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SRC=$ROOT/installer/debian

if [ -n "${VXASSIST_BUNDLE_DIR:-}" ]; then
  BUNDLE=$(cd "$VXASSIST_BUNDLE_DIR" && pwd)
else
  scripts/build-bundle.sh
  BUNDLE=$ROOT/dist/bundle/vxassist
fi
[ -x "$BUNDLE/vxassist" ] || {
  echo "build-deb: no bundle at $BUNDLE; run scripts/build-bundle.sh first." >&2
  exit 1
}
command -v dpkg-deb >/dev/null || {
  echo "build-deb: dpkg-deb is missing; install the dpkg package." >&2
  exit 1
}

VERSION=$("$BUNDLE/vxassist" --version | awk 'NR == 1 {print $2}')
ARCH=$(dpkg --print-architecture)
STAGE=$ROOT/build/deb/vxassist
OUT=$ROOT/dist/vxassist_${VERSION}_${ARCH}.deb

rm -rf "$STAGE"
mkdir -p "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications" \
  "$STAGE/etc/xdg/autostart" "$STAGE/etc/xdg/vxassist" "$STAGE/lib/systemd/system"
cp -a "$BUNDLE" "$STAGE/opt/vxassist"
ln -s /opt/vxassist/vxassist "$STAGE/usr/bin/vxassist"
install -m 0644 "$SRC/vxassist.desktop" "$STAGE/usr/share/applications/vxassist.desktop"
install -m 0644 "$SRC/vxassist-autostart.desktop" "$STAGE/etc/xdg/autostart/vxassist.desktop"
install -m 0644 "$SRC/etc/policy.toml" "$STAGE/etc/xdg/vxassist/policy.toml"
install -m 0644 "$SRC/vxassist-agent.service" "$STAGE/lib/systemd/system/vxassist-agent.service"
# nothing in the package is writable by group or others, whatever the umask was
chmod -R go-w "$STAGE"
find "$STAGE" -type d -exec chmod 0755 {} +

SIZE=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$SIZE/" \
  "$SRC/control.in" >"$STAGE/DEBIAN/control"
printf '%s\n' /etc/xdg/vxassist/policy.toml /etc/xdg/autostart/vxassist.desktop \
  >"$STAGE/DEBIAN/conffiles"
install -m 0755 "$SRC/postinst" "$SRC/prerm" "$SRC/postrm" "$STAGE/DEBIAN/"

mkdir -p "$(dirname "$OUT")"
# zstd: 1 s of CPU and smaller than gzip's 7 s (xz: a quarter smaller, 100 s); every
# dpkg that can run this bundle (glibc 2.36: Debian 12, Ubuntu 22.10 and later) reads it
dpkg-deb --root-owner-group -Zzstd -z3 --build "$STAGE" "$OUT" >/dev/null
echo "build-deb: $OUT ($(du -h "$OUT" | cut -f1), installed $((SIZE / 1024)) MiB)"
