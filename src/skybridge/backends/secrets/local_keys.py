"""The key of the ``local://`` secret store, and authenticated encryption with it.

The key comes from ``SKYBRIDGE_SECRETS_KEY`` (URL-safe base64 of 32 bytes, as printed by
``python -c "import base64,os;print(base64.urlsafe_b64encode(os.urandom(32)).decode())"``), or
from a key file created with mode 0600 next to the store. A key file readable by group or others
is refused; a missing one is created only while the store holds no sealed value. Values are
sealed with AES-256-GCM; the associated data binds each ciphertext to its secret, version and
value type, so a ciphertext moved to another row fails to open too.
"""

from __future__ import annotations

import base64
import binascii
import errno
import os
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from skybridge.core.errors import ConfigError, TerminalError
from skybridge.core.private_files import private_dir

KEY_ENV = "SKYBRIDGE_SECRETS_KEY"
_NONCE = 12


def _decode_key(text: str, origin: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        key = b""
    if len(key) != 32:
        raise ConfigError(
            f"the secrets key from {origin} is not URL-safe base64 of 32 bytes",
            hint='generate one with: python -c "import base64,os;'
            'print(base64.urlsafe_b64encode(os.urandom(32)).decode())"',
        )
    return key


def _read_key_file(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"key file {path} has mode {mode:o}: group or others can access it",
            hint=f"chmod 600 {path}",
        )
    return _decode_key(path.read_text("ascii"), str(path))


def _create_key_file(path: Path) -> bytes:
    """A new key in ``path``, or the key another process put there first.

    The key is written and synced to a private file of its own, then linked to ``path``: a
    process racing this one reads either no key file or a whole one (never one created and
    not yet written), and a crash leaves no empty key file behind to refuse the store. On a
    file system without hard links (FAT, some network shares) the key file is created
    exclusively and written in place, and a racing process waits for its key
    (:func:`_written_key`).
    """
    if not path.parent.exists():  # an existing one is the store's to tighten
        private_dir(path.parent)  # and its missing parents, 0700 each
    key = AESGCM.generate_key(bit_length=256)
    text = base64.urlsafe_b64encode(key).decode("ascii") + "\n"
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:  # mkstemp made it 0600
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temp, path)
        except FileExistsError:  # another process won the race; use its key
            return _written_key(path)
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise ConfigError(f"cannot create key file {path}: {exc.strerror}") from None
            return _create_in_place(path, key, text)
    finally:
        os.unlink(temp)
    _sync_folder(path.parent)
    return key


#: What ``link()`` answers on a file system without hard links.
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}
#: How long a racing opener waits for the key another process is writing in place.
_KEY_WRITE_WAIT_S = 5.0


def _create_in_place(path: Path, key: bytes, text: str) -> bytes:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _written_key(path)
    except OSError as exc:
        raise ConfigError(f"cannot create key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    _sync_folder(path.parent)
    return key


def _written_key(path: Path) -> bytes:
    """The key in ``path``, made by another process: read again while it is still empty (a
    process writing it in place), for at most :data:`_KEY_WRITE_WAIT_S` seconds."""
    deadline = time.monotonic() + _KEY_WRITE_WAIT_S
    while path.stat().st_size == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    return _read_key_file(path)


def _sync_folder(folder: Path) -> None:
    """Make a new name in ``folder`` last as long as the values sealed with its key."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno != errno.EINVAL:  # folders that cannot be synced (some file systems)
            raise
    finally:
        os.close(fd)


def load_key(key_file: Path, *, sealed_values: Callable[[], int] = lambda: 0) -> bytes:
    """The store key: from ``SKYBRIDGE_SECRETS_KEY``, else ``key_file``.

    A missing key file is created only for a store that holds no sealed value yet
    (``sealed_values()`` is 0): values sealed with a lost key can only be read with that key,
    and a new one would seal later writes differently (restoring the old key then loses them).

    Raises:
        ConfigError: the key is malformed or unreadable, or the key file is missing while the
            store holds sealed values (naming the file; nothing is written).
    """
    from_env = os.environ.get(KEY_ENV)
    if from_env:
        return _decode_key(from_env, KEY_ENV)
    try:
        return _read_key_file(key_file)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError(f"cannot read key file {key_file}: {exc.strerror}") from None
    count = sealed_values()
    if count:
        raise ConfigError(
            f"key file {key_file} is missing, but the store holds {count} value(s) sealed "
            "with the key it held",
            hint=f"restore {key_file} from a backup (mode 0600), or set {KEY_ENV} to that key; "
            "a new key is made only for an empty store",
        )
    return _create_key_file(key_file)


class Sealer:
    """AES-256-GCM with per-value random nonces."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "Sealer(key='***')"

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext, context)

    def open(self, blob: bytes, context: bytes, *, what: str) -> bytes:
        """Decrypt ``blob``; ``what`` names the secret in the error (never the value)."""
        try:
            return self._aead.decrypt(blob[:_NONCE], blob[_NONCE:], context)
        except (InvalidTag, ValueError):
            raise TerminalError(
                f"{what} failed its integrity check: the stored ciphertext was modified "
                "or the store key is not the one it was written with",
                hint=f"restore the store from a backup or check {KEY_ENV} / the key file",
            ) from None
