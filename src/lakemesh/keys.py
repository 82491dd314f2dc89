"""The mesh home's secrets, under ``<home>/keys/``: the audit signing key, the mask key, the
key that signs approval links and the one that signs web sessions.

They live in files, not in the metadata store, so that someone who can write the
database still cannot forge an audit checkpoint or reverse a hash mask. The directory is
0700 and every file 0600; a file is published with ``os.link`` from a private temporary
file, so it appears whole and an existing key is never overwritten.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lakemesh.errors import CorruptKey as CorruptKey
from lakemesh.errors import MissingKey as MissingKey

KEYS_DIR = "keys"
AUDIT_PRIVATE = "audit_ed25519.pem"
AUDIT_PUBLIC = "audit_ed25519.pub"
MASK_HASH = "mask_hash.key"
MASK_KEY_BYTES = 32
LINK_KEY = "approval_links.key"
SESSION_KEY = "web_sessions.key"


def keys_dir(home: Path) -> Path:
    return home / KEYS_DIR


def ensure_keys(home: Path) -> None:
    """Create whichever keys are missing; safe to call again and from several processes."""
    folder = keys_dir(home)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o700)  # mkdir's mode is filtered by the umask
    private = folder / AUDIT_PRIVATE
    if not private.exists():
        if (folder / AUDIT_PUBLIC).exists():
            raise CorruptKey(
                f"{folder / AUDIT_PUBLIC} exists without its private key; "
                "restore the private key or remove both"
            )
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _publish(private, pem)
    if not (folder / AUDIT_PUBLIC).exists():
        # Derived from the file, not from a key in memory: another process may have won.
        public = audit_private_key(home).public_key()
        pem = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        _publish(folder / AUDIT_PUBLIC, pem)
    if not (folder / MASK_HASH).exists():
        _publish(folder / MASK_HASH, secrets.token_bytes(MASK_KEY_BYTES))


def audit_private_key(home: Path) -> Ed25519PrivateKey:
    path = keys_dir(home) / AUDIT_PRIVATE
    try:
        key = serialization.load_pem_private_key(_read(path), password=None)
    except (ValueError, TypeError) as exc:
        raise CorruptKey(f"{path} is not an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise CorruptKey(f"{path} is not an Ed25519 private key")
    return key


def audit_public_key(home: Path) -> Ed25519PublicKey:
    path = keys_dir(home) / AUDIT_PUBLIC
    try:
        key = serialization.load_pem_public_key(_read(path))
    except (ValueError, TypeError) as exc:
        raise CorruptKey(f"{path} is not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise CorruptKey(f"{path} is not an Ed25519 public key")
    return key


def mask_hash_key(home: Path) -> bytes:
    path = keys_dir(home) / MASK_HASH
    key = _read(path)
    if len(key) != MASK_KEY_BYTES:
        raise CorruptKey(f"{path} must hold exactly {MASK_KEY_BYTES} bytes, found {len(key)}")
    return key


def link_key(home: Path) -> bytes:
    """The HMAC key of approval links, made on first use (a mesh created before links
    existed has none yet; concurrent first uses keep one key: see ``_publish``)."""
    return _made_on_first_use(home, LINK_KEY)


def session_key(home: Path) -> bytes:
    """The key that signs the web UI's session cookies and CSRF tokens (made on first
    use; removing it signs everyone out)."""
    return _made_on_first_use(home, SESSION_KEY)


def _made_on_first_use(home: Path, name: str) -> bytes:
    path = keys_dir(home) / name
    if not path.exists():
        keys_dir(home).mkdir(parents=True, exist_ok=True, mode=0o700)
        _publish(path, secrets.token_bytes(MASK_KEY_BYTES))
    key = _read(path)
    if len(key) != MASK_KEY_BYTES:
        raise CorruptKey(f"{path} must hold exactly {MASK_KEY_BYTES} bytes, found {len(key)}")
    return key


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise MissingKey(f"key file {path} is missing: run 'lakemesh init' on a new home") from exc
    except OSError as exc:
        raise CorruptKey(f"cannot read key file {path}: {exc.strerror}") from exc


def _publish(path: Path, data: bytes) -> None:
    """Write ``data`` to a 0600 temporary file, fsync it, then link it into place.

    ``os.link`` fails if ``path`` exists, so a concurrent creator's key is kept, not ours.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return
        fsync_dir(path.parent)
    finally:
        os.unlink(tmp)


def fsync_dir(path: Path) -> None:
    """Make the names created in ``path`` durable (a file's fsync does not cover them)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
