"""The vendor's two SSH certificate authorities: one for engineers, one for hosts.

asyncssh enters the desk here and nowhere else. The user CA signs an engineer's
per-session key for the window a customer approved (principal = the session id,
so the certificate opens that grant and no other); the host CA signs each
enrolled host's SSH host key (principal ``vx-<agent id>``), so engineers pin a
host by ``HostKeyAlias`` although every host shares the relay's address.

The private keys live in the desk's data folder, created on first use by whichever
worker gets there first (an atomic link, so two workers never keep two CAs), mode
0600. Scopes travel in the certificate as extensions: OpenSSH's ``permit-pty`` /
``permit-port-forwarding`` where they apply, plus one ``vx-scope-...@vxassist``
extension per scope, which OpenSSH and asyncssh ignore and the agent may read.

Rotation (``vxassist desk ca rotate user|host``) keeps the old key beside the
new one as ``user_ca.previous`` / ``host_ca.previous``: the new key signs from
then on, and the old one stays trusted until ``ca retire``. Engineers trust
both host CAs during the overlap (every Session object carries both); a host
keeps getting engineers' certificates from the user CA it was told to trust at
enrollment (``trusted`` in :meth:`CertificateAuthority.user_ca_for`), so no
enrolled host is cut off. Workers see a rotation at their next signature: the
keys are read again whenever their files change.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncssh
from asyncssh.packet import PacketDecodeError, SSHPacket, String, UInt32, UInt64

from vxassist.errors import VxError

#: clock skew allowance at the start of every certificate (PITFALLS.md)
SKEW = timedelta(seconds=30)
#: how long a host certificate stays valid; a host re-enrolls to renew it
HOST_CERT_VALIDITY = timedelta(days=5 * 365)
#: key types the desk accepts for engineers' session keys and hosts' host keys
ACCEPTED_KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "ssh-rsa",
    }
)
_MIN_RSA_BITS = 2048
_CERT_TYPE_USER = 1
_CERT_TYPE_HOST = 2
EXTENSION_SUFFIX = "@vxassist"


class CaError(VxError):
    """The certificate authority cannot do what was asked."""


class BadPublicKey(CaError):
    """A public key sent to the desk is not one it accepts."""


@dataclass(frozen=True)
class PublicKey:
    """An OpenSSH public key, normalized to ``TYPE BASE64`` (no comment)."""

    key_type: str
    blob_b64: str
    fingerprint: str

    @property
    def line(self) -> str:
        return f"{self.key_type} {self.blob_b64}"


@dataclass(frozen=True)
class CertificateInfo:
    """What an OpenSSH certificate says, decoded field by field."""

    cert_type: str  # "user" | "host"
    key_id: str
    principals: tuple[str, ...]
    valid_after: datetime
    valid_before: datetime
    critical_options: tuple[str, ...]
    extensions: tuple[str, ...]
    signing_key: str  # OpenSSH public key line of the CA
    key: str  # the certified public key, as a line


def parse_public_key(text: str) -> PublicKey:
    """Parse one OpenSSH public key line; refuse certificates, odd types and weak keys."""
    fields = text.strip().split()
    if len(fields) < 2 or "\n" in text.strip():
        raise BadPublicKey(
            "Send one OpenSSH public key line, such as the content of a .pub file.",
            detail=f"{len(fields)} fields",
        )
    key_type, blob_b64 = fields[0], fields[1]
    if key_type not in ACCEPTED_KEY_TYPES:
        raise BadPublicKey(
            "Use an ed25519, ECDSA or RSA (2048 bits or more) public key; "
            f"{key_type[:40]!r} keys and certificates are not accepted.",
            detail=key_type[:80],
        )
    try:
        blob = base64.b64decode(blob_b64, validate=True)
        key = asyncssh.import_public_key(f"{key_type} {blob_b64}")
    except (binascii.Error, ValueError, asyncssh.KeyImportError) as exc:
        raise BadPublicKey(
            "The public key is damaged; send the whole line of the .pub file again.",
            detail=repr(exc),
        ) from exc
    if key.algorithm.decode() != key_type or key.public_data != blob:
        raise BadPublicKey(
            "The public key's type does not match its content; send the .pub line unchanged.",
            detail=f"{key_type} vs {key.algorithm!r}",
        )
    if key_type == "ssh-rsa" and _rsa_bits(blob) < _MIN_RSA_BITS:
        raise BadPublicKey(
            "RSA keys shorter than 2048 bits are not accepted; use an ed25519 key.",
            detail=f"{_rsa_bits(blob)} bits",
        )
    return PublicKey(key_type, blob_b64, key.get_fingerprint("sha256"))


def _rsa_bits(blob: bytes) -> int:
    packet = SSHPacket(blob)
    packet.get_string()
    packet.get_mpint()  # e
    return int(packet.get_mpint()).bit_length()


def scope_extensions(scopes: Sequence[str]) -> tuple[str, ...]:
    """The certificate extensions that carry ``scopes`` (sorted, as OpenSSH wants)."""
    names: set[str] = set()
    for scope in scopes:
        if scope == "shell":
            names.add("permit-pty")
        elif scope.startswith("forward:"):
            names.add("permit-port-forwarding")
        names.add(f"vx-scope-{scope}{EXTENSION_SUFFIX}")
    return tuple(sorted(names, key=lambda n: n.encode()))


def scopes_from_extensions(extensions: Sequence[str]) -> tuple[str, ...]:
    """The scopes a certificate's ``vx-scope-...`` extensions name."""
    prefix = "vx-scope-"
    return tuple(
        e[len(prefix) : -len(EXTENSION_SUFFIX)]
        for e in extensions
        if e.startswith(prefix) and e.endswith(EXTENSION_SUFFIX)
    )


#: the two kinds of CA, as ``ca rotate`` / ``ca retire`` name them
CA_KINDS = ("user", "host")
PREVIOUS_SUFFIX = ".previous"


class UnknownUserCa(CaError):
    """A host trusts a user CA this desk no longer has (retired)."""


def fingerprint(key: asyncssh.SSHKey) -> str:
    """The SHA256 fingerprint of a CA key, as ``ssh-keygen -l`` prints it."""
    return str(key.get_fingerprint("sha256"))


class CertificateAuthority:
    """The user CA and the host CA of one desk, kept in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        # file name -> ((inode, mtime, size), key): read again when the file changes
        self._cache: dict[str, tuple[tuple[int, int, int], asyncssh.SSHKey]] = {}

    def _key(self, name: str, create: bool) -> asyncssh.SSHKey | None:
        path = self.folder / name
        try:
            st = path.stat()
        except FileNotFoundError:
            self._cache.pop(name, None)
            if not create:
                return None
            key = _load_or_create(path)
            st = path.stat()
            self._cache[name] = ((st.st_ino, st.st_mtime_ns, st.st_size), key)
            return key
        except OSError as exc:
            raise CaError(
                f"The CA key {path} cannot be read; restore it from the desk's backup.",
                detail=repr(exc),
            ) from exc
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        cached = self._cache.get(name)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        key = _load_or_create(path)
        self._cache[name] = (stamp, key)
        return key

    @property
    def user_ca(self) -> asyncssh.SSHKey:
        """The user CA that signs engineers' certificates for hosts enrolled since it came."""
        key = self._key("user_ca", create=True)
        assert key is not None
        return key

    @property
    def host_ca(self) -> asyncssh.SSHKey:
        """The host CA that signs hosts' certificates from now on."""
        key = self._key("host_ca", create=True)
        assert key is not None
        return key

    def previous(self, kind: str) -> asyncssh.SSHKey | None:
        """The CA of ``kind`` that a rotation replaced and no retire removed yet."""
        return self._key(f"{kind}_ca{PREVIOUS_SUFFIX}", create=False)

    @property
    def user_ca_public_key(self) -> str:
        return _public_line(self.user_ca, "vxassist-user-ca")

    @property
    def host_ca_public_key(self) -> str:
        return _public_line(self.host_ca, "vxassist-host-ca")

    @property
    def host_ca_public_keys(self) -> str:
        """Every host CA engineers must trust now, one line each (the new one first)."""
        lines = [self.host_ca_public_key]
        old = self.previous("host")
        if old is not None:
            lines.append(_public_line(old, "vxassist-host-ca-previous"))
        return "\n".join(lines)

    @property
    def user_ca_fingerprint(self) -> str:
        return fingerprint(self.user_ca)

    def user_ca_for(self, trusted: str | None) -> asyncssh.SSHKey:
        """The user CA a host trusts: ``trusted`` is the fingerprint it was given at
        enrollment; None is a host enrolled before any rotation (the previous CA while
        one is kept, else the only one)."""
        current = self.user_ca
        old = self.previous("user")
        if trusted is None:
            return old or current
        for key in (current, old):
            if key is not None and fingerprint(key) == trusted:
                return key
        raise UnknownUserCa(
            "This host trusts an engineer CA the desk has retired; the host must enroll "
            "again (`vxassist enroll`) before a session is possible.",
            detail=trusted,
        )

    def rotate(self, kind: str) -> asyncssh.SSHKey:
        """Make a new CA of ``kind`` the signing one, keeping the old as ``.previous``.

        Refused while a previous one is still kept: retire it first, so a host is
        never more than one rotation behind.
        """
        if kind not in CA_KINDS:
            raise CaError(f"Name the CA to rotate: one of {', '.join(CA_KINDS)}.")
        path = self.folder / f"{kind}_ca"
        previous = self.folder / f"{kind}_ca{PREVIOUS_SUFFIX}"
        if previous.exists():
            raise CaError(
                f"The {kind} CA was rotated already and its previous key is still trusted; "
                f"run `vxassist desk ca retire {kind}` first.",
            )
        _load_or_create(path)  # a desk that never signed anything still has one to keep
        key = asyncssh.generate_private_key("ssh-ed25519", comment=path.name)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(key.export_private_key())
                fh.flush()
                os.fsync(fh.fileno())
            os.link(path, previous)  # fails if another rotation got there first
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return key

    def retire(self, kind: str) -> asyncssh.SSHKey | None:
        """Stop trusting the previous CA of ``kind``; the key retired (None: none kept).

        The file is renamed ``retired-<kind>_ca-<time>`` in the CA folder, not
        deleted: certificates it signed are no longer accepted, but an operator
        may still want to read them.
        """
        if kind not in CA_KINDS:
            raise CaError(f"Name the CA to retire: one of {', '.join(CA_KINDS)}.")
        old = self.previous(kind)
        if old is None:
            return None
        previous = self.folder / f"{kind}_ca{PREVIOUS_SUFFIX}"
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        os.replace(previous, self.folder / f"retired-{kind}_ca-{stamp}")
        self._cache.pop(previous.name, None)
        return old

    def sign_user_key(
        self,
        public_key: str,
        *,
        key_id: str,
        principals: Sequence[str],
        not_before: datetime,
        not_after: datetime,
        scopes: Sequence[str],
        ca: asyncssh.SSHKey | None = None,
    ) -> str:
        """An OpenSSH user certificate line for ``public_key``, valid for the grant window.

        Signed by ``ca`` (what :meth:`user_ca_for` gave for the host), else the
        current user CA. ``valid_after`` is ``not_before`` minus 30 s for clock skew;
        no agent, X11 or user-rc permission and no ``source-address`` (through the tunnel the peer
        address is empty).
        """
        key = parse_public_key(public_key)
        if not_after <= not_before:
            raise CaError(
                "The grant window is empty; approve a session of at least one minute.",
                detail=f"{not_before} .. {not_after}",
            )
        blob = _encode_certificate(
            ca or self.user_ca,
            base64.b64decode(key.blob_b64),
            key.key_type,
            cert_type=_CERT_TYPE_USER,
            key_id=key_id,
            principals=principals,
            valid_after=_epoch(not_before - SKEW),
            valid_before=_epoch(not_after),
            extensions=scope_extensions(scopes),
        )
        return f"{key.key_type}-cert-v01@openssh.com {base64.b64encode(blob).decode()} {key_id}"

    def sign_host_key(self, host_public_key: str, *, principal: str, now: datetime) -> str:
        """An OpenSSH host certificate line for an enrolled host's key."""
        key = parse_public_key(host_public_key)
        cert = self.host_ca.generate_host_certificate(
            asyncssh.import_public_key(key.line),
            principal,
            principals=[principal],
            valid_after=_epoch(now - SKEW),
            valid_before=_epoch(now + HOST_CERT_VALIDITY),
            comment=principal,
        )
        return cert.export_certificate().decode().strip()


def _public_line(key: asyncssh.SSHKey, comment: str) -> str:
    text = key.export_public_key().decode().split()
    return f"{text[0]} {text[1]} {comment}"


def _epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise CaError("Internal error: a naive time reached the CA.", detail=str(moment))
    return max(0, int(moment.timestamp()))


def _load_or_create(path: Path) -> asyncssh.SSHKey:
    """Read the CA key at ``path``; create it once, atomically, if it is missing."""
    try:
        return asyncssh.read_private_key(path)
    except FileNotFoundError:
        pass
    except (OSError, asyncssh.KeyImportError) as exc:
        raise CaError(
            f"The CA key {path} cannot be read; restore it from the desk's backup.",
            detail=repr(exc),
        ) from exc
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = asyncssh.generate_private_key("ssh-ed25519", comment=path.name)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(key.export_private_key())
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # fails if another worker created it first
        except FileExistsError:
            return asyncssh.read_private_key(path)
    finally:
        tmp.unlink(missing_ok=True)
    return key


def _encode_certificate(
    ca: asyncssh.SSHKey,
    key_blob: bytes,
    key_type: str,
    *,
    cert_type: int,
    key_id: str,
    principals: Sequence[str],
    valid_after: int,
    valid_before: int,
    extensions: Sequence[str],
) -> bytes:
    """An OpenSSH v01 certificate (PROTOCOL.certkeys), with extensions of our own.

    asyncssh writes only the standard extensions, hence this encoder; the result
    is read back with asyncssh before it leaves the desk.
    """
    key_params = SSHPacket(key_blob)
    key_params.get_string()  # the key type, replaced by the certificate type
    cert_algorithm = f"{key_type}-cert-v01@openssh.com"
    body = b"".join(
        (
            String(cert_algorithm),
            String(secrets.token_bytes(32)),
            key_params.get_remaining_payload(),
            UInt64(secrets.randbits(63)),
            UInt32(cert_type),
            String(key_id),
            String(b"".join(String(p) for p in principals)),
            UInt64(valid_after),
            UInt64(valid_before),
            String(b""),
            String(b"".join(String(name) + String(b"") for name in extensions)),
            String(b""),
            String(ca.public_data),
        )
    )
    blob = body + String(ca.sign(body, ca.sig_algorithms[0]))
    try:
        asyncssh.import_certificate(f"{cert_algorithm} {base64.b64encode(blob).decode()}")
    except (ValueError, asyncssh.KeyImportError) as exc:
        raise CaError(
            "The desk could not make a valid certificate; report this to the desk's operator.",
            detail=repr(exc),
        ) from exc
    return blob


def inspect_certificate(line: str) -> CertificateInfo:
    """Decode every field of an OpenSSH certificate line (its signature checked by asyncssh)."""
    fields = line.strip().split()
    try:
        asyncssh.import_certificate(" ".join(fields[:2]))
        blob = base64.b64decode(fields[1], validate=True)
        packet = SSHPacket(blob)
        cert_algorithm = packet.get_string().decode()
        packet.get_string()  # nonce
        key_type = cert_algorithm.removesuffix("-cert-v01@openssh.com")
        params_start = len(blob) - len(packet.get_remaining_payload())
        _skip_key_params(packet, key_type)
        params_end = len(blob) - len(packet.get_remaining_payload())
        packet.get_uint64()  # serial
        kind = packet.get_uint32()
        key_id = packet.get_string().decode()
        principals = _strings(packet.get_string())
        valid_after = packet.get_uint64()
        valid_before = packet.get_uint64()
        critical = _names(packet.get_string())
        extensions = _names(packet.get_string())
        packet.get_string()  # reserved
        signing_blob = packet.get_string()
        signing_type = SSHPacket(signing_blob).get_string().decode()
    except (IndexError, binascii.Error, ValueError, PacketDecodeError) as exc:
        raise CaError("This is not an OpenSSH certificate line.", detail=repr(exc)) from exc
    key_blob = String(key_type) + blob[params_start:params_end]
    return CertificateInfo(
        cert_type="user" if kind == _CERT_TYPE_USER else "host",
        key_id=key_id,
        principals=principals,
        valid_after=datetime.fromtimestamp(valid_after, UTC),
        valid_before=datetime.fromtimestamp(min(valid_before, 2**40), UTC),
        critical_options=critical,
        extensions=extensions,
        signing_key=f"{signing_type} {base64.b64encode(signing_blob).decode()}",
        key=f"{key_type} {base64.b64encode(key_blob).decode()}",
    )


def _skip_key_params(packet: SSHPacket, key_type: str) -> None:
    if key_type == "ssh-ed25519":
        packet.get_string()
    elif key_type.startswith("ecdsa-sha2-"):
        packet.get_string()
        packet.get_string()
    elif key_type == "ssh-rsa":
        packet.get_mpint()
        packet.get_mpint()
    else:
        raise ValueError(f"unsupported certificate key type {key_type}")


def _strings(data: bytes) -> tuple[str, ...]:
    packet = SSHPacket(data)
    out = []
    while packet:
        out.append(packet.get_string().decode())
    return tuple(out)


def _names(data: bytes) -> tuple[str, ...]:
    packet = SSHPacket(data)
    out = []
    while packet:
        out.append(packet.get_string().decode())
        packet.get_string()
    return tuple(out)
