# PyInstaller hook for PySide6.QtGui, in place of the stock one: the same
# collection, less the Qt plugins the agent never loads. The GTK 3 theme plugin
# alone pulls GTK, GDK, cairo and pango from the build machine into the bundle
# (and a desktop's own GTK is the one to use); framebuffer, VNC, EGL-device and
# evdev platforms are for kiosks, and the tray shows no JPEG, TIFF or WebP.
# ruff: noqa
import os

from PyInstaller.utils.hooks.qt import add_qt6_dependencies

hiddenimports, binaries, datas = add_qt6_dependencies(__file__)

#: plugin folders that stay out whole
_DROPPED_KINDS = {"egldeviceintegrations", "generic"}
#: single plugins that stay out (file name starts with one of these)
_DROPPED = {
    "platforms": ("libqlinuxfb", "libqvnc", "libqvkkhrdisplay", "libqeglfs", "libqminimalegl"),
    "platformthemes": ("libqgtk3",),
    "imageformats": (
        "libqjpeg",
        "libqtiff",
        "libqwebp",
        "libqgif",
        "libqicns",
        "libqtga",
        "libqwbmp",
        "libqpdf",
    ),
}


def _kept(entry):
    src, dest = entry
    kind = os.path.basename(os.path.normpath(dest))
    if kind in _DROPPED_KINDS:
        return False
    return not os.path.basename(src).startswith(_DROPPED.get(kind, ()))


binaries = [b for b in binaries if _kept(b)]
