"""Windows: whether only administrators can change a file (the machine policy's test).

On Windows "only an administrator can have written it" is a question for the
file's owner and its access list, not its mode bits. ``acl_verdict`` decides it
from plain values (pure, tested everywhere); ``file_acl`` reads them through
advapi32 (Windows only). The installer (installer/windows/vxassist.iss) sets the
access list this accepts: owner Administrators, Administrators and SYSTEM full
control, Users read, nothing inherited.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

ADMINISTRATORS = "S-1-5-32-544"
SYSTEM = "S-1-5-18"
TRUSTED_INSTALLER = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"
#: who may change the machine policy
WRITERS = frozenset({ADMINISTRATORS, SYSTEM, TRUSTED_INSTALLER})

ACCESS_ALLOWED_ACE_TYPE = 0
INHERIT_ONLY_ACE = 0x08
#: rights that change a file's content, attributes, access list or owner, or delete it
WRITE_RIGHTS = (
    0x0002  # FILE_WRITE_DATA
    | 0x0004  # FILE_APPEND_DATA
    | 0x0010  # FILE_WRITE_EA
    | 0x0100  # FILE_WRITE_ATTRIBUTES
    | 0x0001_0000  # DELETE
    | 0x0004_0000  # WRITE_DAC
    | 0x0008_0000  # WRITE_OWNER
    | 0x1000_0000  # GENERIC_ALL
    | 0x4000_0000  # GENERIC_WRITE
)


@dataclass(frozen=True)
class Ace:
    """One entry of an access list: its type, flags, access mask and whom it names (a SID)."""

    type: int
    flags: int
    mask: int
    sid: str


@dataclass(frozen=True)
class FileAcl:
    owner: str
    #: None: the file has no access list at all (everyone may do everything)
    aces: tuple[Ace, ...] | None


def acl_verdict(acl: FileAcl) -> tuple[bool, str]:
    """Pure: whether only administrators (and the system) can change a file with ``acl``."""
    if acl.owner not in WRITERS:
        return False, f"it is owned by {acl.owner}, not by Administrators"
    if acl.aces is None:
        return False, "it has no access list, so everyone may change it"
    for ace in acl.aces:
        if ace.type != ACCESS_ALLOWED_ACE_TYPE or ace.flags & INHERIT_ONLY_ACE:
            continue  # denials only take away; inherit-only entries do not apply to it
        if ace.mask & WRITE_RIGHTS and ace.sid not in WRITERS:
            return False, f"{ace.sid} may change it"
    return True, ""


def file_acl(path: Path) -> FileAcl:
    """The owner and access list of ``path`` (Windows only; raises OSError)."""
    if sys.platform != "win32":
        raise OSError("access lists are read on Windows only")
    import ctypes
    from ctypes import wintypes

    advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    owner = ctypes.c_void_p()
    dacl = ctypes.c_void_p()
    descriptor = ctypes.c_void_p()
    se_file_object = 1
    owner_and_dacl = 0x1 | 0x4  # OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION
    status = advapi32.GetNamedSecurityInfoW(
        ctypes.c_wchar_p(str(path)),
        se_file_object,
        owner_and_dacl,
        ctypes.byref(owner),
        None,
        ctypes.byref(dacl),
        None,
        ctypes.byref(descriptor),
    )
    if status != 0:
        raise OSError(status, f"cannot read the access list of {path}")
    try:

        def sid_text(sid: int | None) -> str:
            text = wintypes.LPWSTR()
            if not advapi32.ConvertSidToStringSidW(ctypes.c_void_p(sid), ctypes.byref(text)):
                raise ctypes.WinError(ctypes.get_last_error())
            try:
                return str(text.value)
            finally:
                kernel32.LocalFree(text)

        if not dacl.value:
            return FileAcl(sid_text(owner.value), None)

        class AclSizeInformation(ctypes.Structure):
            _fields_ = [
                ("AceCount", wintypes.DWORD),
                ("AclBytesInUse", wintypes.DWORD),
                ("AclBytesFree", wintypes.DWORD),
            ]

        class AceHeader(ctypes.Structure):
            _fields_ = [
                ("AceType", ctypes.c_ubyte),
                ("AceFlags", ctypes.c_ubyte),
                ("AceSize", wintypes.WORD),
            ]

        info = AclSizeInformation()
        acl_size_information = 2
        if not advapi32.GetAclInformation(
            dacl, ctypes.byref(info), ctypes.sizeof(info), acl_size_information
        ):
            raise ctypes.WinError(ctypes.get_last_error())
        aces = []
        for index in range(info.AceCount):
            ace = ctypes.c_void_p()
            if not advapi32.GetAce(dacl, index, ctypes.byref(ace)):
                raise ctypes.WinError(ctypes.get_last_error())
            header = AceHeader.from_address(ace.value or 0)
            # ACCESS_ALLOWED_ACE and ACCESS_DENIED_ACE: header, mask, then the SID
            mask = wintypes.DWORD.from_address((ace.value or 0) + 4).value
            sid = sid_text((ace.value or 0) + 8) if header.AceType in (0, 1) else ""
            aces.append(Ace(header.AceType, header.AceFlags, mask, sid))
        return FileAcl(sid_text(owner.value), tuple(aces))
    finally:
        kernel32.LocalFree(descriptor)


def only_administrators_can_change(path: Path) -> tuple[bool, str]:
    """Whether only Administrators and SYSTEM can change ``path``, and why not."""
    try:
        acl = file_acl(path)
    except OSError as exc:
        return False, f"its access list cannot be read ({exc})"
    return acl_verdict(acl)
