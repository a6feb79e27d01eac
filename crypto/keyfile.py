"""Private key files (protocol §3.4).

A key file is a small JSON object, UTF-8, at most 4096 bytes, with the public key in clear (so that it
can be shown without the passphrase) and either the seed in clear or the seed encrypted under a key
derived from a passphrase with Argon2id, sealed with XSalsa20-Poly1305 (libsodium's pwhash and secretbox):

    {"format": "antiwar-registry-key/v1", "public_key": B64, "seed": B64}
    {"format": "antiwar-registry-key/v1", "public_key": B64, "encryption": {"kdf": "argon2id13",
     "opslimit": N, "memlimit": N, "salt": B64, "cipher": "xsalsa20poly1305", "nonce": B64,
     "ciphertext": B64}}

Files are created with mode 0600 from the first byte, written to a temporary file in the same directory,
synced, and moved into place, so that a crash leaves the old file or the new one, never half of one.

Deliberately not here: prompting for passphrases, choosing where keys live (the CLI does both). The seed
never appears in an exception message or a repr.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import nacl.exceptions
import nacl.pwhash.argon2id
import nacl.secret

from crypto.errors import BadKey
from crypto.keys import SEED_SIZE, SigningKey, check_public_key

__all__ = [
    "ARGON2ID_MEMLIMIT",
    "ARGON2ID_OPSLIMIT",
    "KEY_FILE_FORMAT",
    "MAX_KEY_FILE_SIZE",
    "key_file_is_encrypted",
    "read_key_file",
    "read_public_key",
    "write_key_file",
]

KEY_FILE_FORMAT: Final = "antiwar-registry-key/v1"
MAX_KEY_FILE_SIZE: Final = 4096
KEY_FILE_MODE: Final = 0o600

# protocol §3.4-e: libsodium's MODERATE limits (3 passes over 256 MiB, about half a second) by default.
ARGON2ID_OPSLIMIT: Final[int] = nacl.pwhash.argon2id.OPSLIMIT_MODERATE
ARGON2ID_MEMLIMIT: Final[int] = nacl.pwhash.argon2id.MEMLIMIT_MODERATE
# protocol §3.4-f: bounds a reader accepts, so that a crafted file cannot make it spend hours or gigabytes.
_MIN_OPSLIMIT: Final[int] = nacl.pwhash.argon2id.OPSLIMIT_MIN
_MAX_OPSLIMIT: Final = 16
_MIN_MEMLIMIT: Final[int] = nacl.pwhash.argon2id.MEMLIMIT_MIN
_MAX_MEMLIMIT: Final[int] = nacl.pwhash.argon2id.MEMLIMIT_SENSITIVE

_KDF: Final = "argon2id13"
_CIPHER: Final = "xsalsa20poly1305"
_SALT_SIZE: Final[int] = nacl.pwhash.argon2id.SALTBYTES
_NONCE_SIZE: Final[int] = nacl.secret.SecretBox.NONCE_SIZE
_CIPHERTEXT_SIZE: Final[int] = SEED_SIZE + nacl.secret.SecretBox.MACBYTES

_PLAIN_FIELDS: Final = frozenset({"format", "public_key", "seed"})
_ENCRYPTED_FIELDS: Final = frozenset({"format", "public_key", "encryption"})
_ENCRYPTION_FIELDS: Final = frozenset({"kdf", "opslimit", "memlimit", "salt", "cipher", "nonce", "ciphertext"})


@dataclass(frozen=True, slots=True, repr=False)
class _Encryption:
    opslimit: int
    memlimit: int
    salt: bytes
    nonce: bytes
    ciphertext: bytes


@dataclass(frozen=True, slots=True, repr=False)
class _KeyFile:
    """A parsed key file; `repr=False` because `seed` is secret."""

    public_key: bytes
    seed: bytes | None
    encryption: _Encryption | None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: object, field: str, size: int) -> bytes:
    """Decode canonical base64 (RFC 4648 §4, padded) of exactly `size` bytes; never echoes the value."""
    if not isinstance(value, str):
        raise BadKey(f"key file field {field} must be a base64 string")
    try:
        data = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeError):
        raise BadKey(f"key file field {field} is not valid base64") from None
    if _b64(data) != value:
        raise BadKey(f"key file field {field} is not canonical base64")
    if len(data) != size:
        raise BadKey(f"key file field {field} must hold {size} bytes, got {len(data)}")
    return data


def _limit(value: object, field: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise BadKey(f"key file field {field} must be an integer in [{low}, {high}]")
    return value


def _reject_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for name, value in pairs:
        if name in result:
            raise BadKey("key file has a duplicate field")
        result[name] = value
    return result


def _parse(data: bytes) -> _KeyFile:
    """Parse and check the structure of a key file (protocol §3.4-c, §3.4-f); does not decrypt."""
    if len(data) > MAX_KEY_FILE_SIZE:
        raise BadKey(f"key file is over {MAX_KEY_FILE_SIZE} bytes")
    try:
        document = json.loads(data.decode("utf-8"), object_pairs_hook=_reject_duplicates)
    except (UnicodeError, ValueError, RecursionError):
        # Neither the decoder's message nor the bytes it quotes are passed on: they may be part of a seed.
        raise BadKey("key file is not a JSON document") from None
    if not isinstance(document, dict):
        raise BadKey("key file is not a JSON object")
    if document.get("format") != KEY_FILE_FORMAT:
        raise BadKey(f"key file format is not {KEY_FILE_FORMAT}")
    fields = frozenset(document)
    if fields not in (_PLAIN_FIELDS, _ENCRYPTED_FIELDS):
        raise BadKey("key file must have exactly format, public_key and one of seed or encryption")
    public_key = _unb64(document["public_key"], "public_key", 32)
    check_public_key(public_key)
    if fields == _PLAIN_FIELDS:
        return _KeyFile(public_key, _unb64(document["seed"], "seed", SEED_SIZE), None)
    encryption = document["encryption"]
    if not isinstance(encryption, dict) or frozenset(encryption) != _ENCRYPTION_FIELDS:
        raise BadKey("key file encryption must have exactly kdf, opslimit, memlimit, salt, cipher, nonce, ciphertext")
    if encryption["kdf"] != _KDF or encryption["cipher"] != _CIPHER:
        raise BadKey(f"key file encryption must be {_KDF} with {_CIPHER}")
    return _KeyFile(
        public_key,
        None,
        _Encryption(
            opslimit=_limit(encryption["opslimit"], "opslimit", _MIN_OPSLIMIT, _MAX_OPSLIMIT),
            memlimit=_limit(encryption["memlimit"], "memlimit", _MIN_MEMLIMIT, _MAX_MEMLIMIT),
            salt=_unb64(encryption["salt"], "salt", _SALT_SIZE),
            nonce=_unb64(encryption["nonce"], "nonce", _NONCE_SIZE),
            ciphertext=_unb64(encryption["ciphertext"], "ciphertext", _CIPHERTEXT_SIZE),
        ),
    )


def _derive(passphrase: bytes, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    key: bytes = nacl.pwhash.argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE, passphrase, salt, opslimit=opslimit, memlimit=memlimit
    )
    return key


def _format(key: SigningKey, passphrase: bytes | None, opslimit: int, memlimit: int) -> bytes:
    document: dict[str, object] = {"format": KEY_FILE_FORMAT, "public_key": _b64(key.public_key)}
    if passphrase is None:
        document["seed"] = _b64(key.seed)
    else:
        salt = secrets.token_bytes(_SALT_SIZE)
        nonce = secrets.token_bytes(_NONCE_SIZE)
        box = nacl.secret.SecretBox(_derive(passphrase, salt, opslimit, memlimit))
        ciphertext = box.encrypt(key.seed, nonce).ciphertext
        document["encryption"] = {
            "kdf": _KDF,
            "opslimit": opslimit,
            "memlimit": memlimit,
            "salt": _b64(salt),
            "cipher": _CIPHER,
            "nonce": _b64(nonce),
            "ciphertext": _b64(ciphertext),
        }
    return (json.dumps(document, indent=2) + "\n").encode("ascii")


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # platforms without directory file descriptors
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_key_file(
    path: Path,
    key: SigningKey,
    passphrase: bytes | None = None,
    *,
    overwrite: bool = False,
    opslimit: int = ARGON2ID_OPSLIMIT,
    memlimit: int = ARGON2ID_MEMLIMIT,
) -> None:
    """Write `key` to `path` with mode 0600, atomically (protocol §3.4-a, §3.4-b).

    Args:
        path: the key file; its directory must exist.
        key: the key to store.
        passphrase: when given (non-empty), the seed is stored encrypted under it (§3.4-e).
        overwrite: replace an existing file; otherwise an existing file is never touched.
        opslimit: Argon2id passes (tests pass small values; readers accept 1 to 16).
        memlimit: Argon2id memory in bytes (readers accept 8 KiB to 1 GiB).

    Raises:
        FileExistsError: `path` exists and `overwrite` is false.
        BadKey (`bad_key`): an empty passphrase, or Argon2id limits outside what readers accept.
        OSError: the file cannot be written; nothing is left at `path` that was not there before.
    """
    if passphrase is not None:
        if not passphrase:
            raise BadKey("a passphrase must not be empty; pass None to store the key unencrypted")
        _limit(opslimit, "opslimit", _MIN_OPSLIMIT, _MAX_OPSLIMIT)
        _limit(memlimit, "memlimit", _MIN_MEMLIMIT, _MAX_MEMLIMIT)
    path = Path(path)
    if not overwrite and path.exists():
        raise FileExistsError(f"refusing to overwrite the existing key file {path}")
    data = _format(key, passphrase, opslimit, memlimit)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    # protocol §3.4-a: O_EXCL with mode 0600, so that no other user can open the file at any moment;
    # fchmod because the umask may have removed bits from 0600 (it can never add any).
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), KEY_FILE_MODE)
    try:
        try:
            os.fchmod(fd, KEY_FILE_MODE)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(temporary, path)
        else:
            # protocol §3.4-b: link() fails if `path` appeared meanwhile, where rename() would replace it.
            try:
                os.link(temporary, path)
            except FileExistsError:
                raise FileExistsError(f"refusing to overwrite the existing key file {path}") from None
            except OSError:
                # A filesystem without hard links: fall back to a check, racy but still refusing.
                if path.exists():
                    raise FileExistsError(f"refusing to overwrite the existing key file {path}") from None
                os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    # If the process dies here, the file is complete but its directory entry may not be durable yet.
    _fsync_directory(path.parent)


def _read(path: Path) -> _KeyFile:
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_KEY_FILE_SIZE + 1)
    except FileNotFoundError:
        raise BadKey(f"no key file at {path}") from None
    except IsADirectoryError:
        raise BadKey(f"{path} is a directory, not a key file") from None
    return _parse(data)


def read_key_file(path: Path, passphrase: bytes | None = None) -> SigningKey:
    """Read the private key stored at `path` (protocol §3.4-c, §3.4-d).

    Args:
        path: a file written by `write_key_file`.
        passphrase: needed when the file is encrypted; ignored when it is not.

    Raises:
        BadKey (`bad_key`): no file, a malformed file, an encrypted file without a passphrase, a wrong
            passphrase or damaged ciphertext, or a public key that does not belong to the seed.
        OSError: the file exists but cannot be read (e.g. permissions).
    """
    parsed = _read(Path(path))
    if parsed.encryption is None:
        seed = parsed.seed
    else:
        if not passphrase:
            raise BadKey("the key file is encrypted and needs a passphrase")
        enc = parsed.encryption
        box = nacl.secret.SecretBox(_derive(passphrase, enc.salt, enc.opslimit, enc.memlimit))
        try:
            seed = box.decrypt(enc.ciphertext, enc.nonce)
        except nacl.exceptions.CryptoError:
            raise BadKey("wrong passphrase, or the key file is damaged") from None
    if seed is None or len(seed) != SEED_SIZE:
        raise BadKey("key file holds no seed of the right size")
    key = SigningKey.from_seed(seed)
    # protocol §3.4-d: the public key in clear must be the one the seed gives.
    if key.public_key != parsed.public_key:
        raise BadKey("the public key in the key file does not belong to its private key")
    return key


def read_public_key(path: Path) -> bytes:
    """The public key stored at `path`, read without the passphrase and checked (protocol §3.2).

    Raises:
        BadKey (`bad_key`): no file, or a malformed file.
    """
    return _read(Path(path)).public_key


def key_file_is_encrypted(path: Path) -> bool:
    """Whether the key file at `path` needs a passphrase.

    Raises:
        BadKey (`bad_key`): no file, or a malformed file.
    """
    return _read(Path(path)).encryption is not None
