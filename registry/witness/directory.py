"""A witness's directory on disk (protocol §6.2-b): its cosigning key, its name, its state file and
the evidence it kept.

Layout of DIR (mode 0700), created by `registry witness init`:

    DIR/witness.json      {"format": "antiwar-registry-witness/v1", "name": NAME, "vkey": VKEY}
    DIR/witness.key       the cosigning key (crypto.keyfile, mode 0600); it never leaves DIR
    DIR/state.sqlite3     per log origin, the latest tree size and root hash cosigned (`state.py`)
    DIR/evidence/         inconsistent log-signed checkpoints it refused (protocol §6.2-g, §6.4)

Shell code: files only, passed in explicitly. No clock, no network.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from crypto.cosignature import cosigner_vkey
from crypto.errors import CryptoError
from crypto.keyfile import read_key_file, write_key_file
from crypto.keys import SigningKey
from crypto.note import check_key_name
from crypto.notekey import NoteVerifier

from ..errors import ErrorCode, RegistryError, Rejection
from .state import STATE_FILE, WitnessState
from .witness import SecondsClock, Witness

__all__ = [
    "EVIDENCE_DIR",
    "WITNESS_CONFIG_FILE",
    "WITNESS_FORMAT",
    "WITNESS_KEY_FILE",
    "WitnessDir",
    "create_witness_dir",
    "open_witness_dir",
]

WITNESS_CONFIG_FILE: Final = "witness.json"
WITNESS_KEY_FILE: Final = "witness.key"
EVIDENCE_DIR: Final = "evidence"
WITNESS_FORMAT: Final = "antiwar-registry-witness/v1"
_DIR_MODE: Final = 0o700
_MAX_CONFIG: Final = 16 * 1024


def _error(code: ErrorCode, message: str) -> RegistryError:
    return RegistryError(Rejection(code, message, "6.2-b"))


@dataclass(frozen=True, slots=True)
class WitnessDir:
    """An existing witness directory: its path, name and verifier key."""

    path: Path
    name: str
    vkey: str

    @property
    def key_path(self) -> Path:
        return self.path / WITNESS_KEY_FILE

    @property
    def state_path(self) -> Path:
        return self.path / STATE_FILE

    @property
    def evidence_dir(self) -> Path:
        return self.path / EVIDENCE_DIR

    def key(self) -> SigningKey:
        """The cosigning key, checked against the configured vkey.

        Raises:
            RegistryError (`bad_key`): missing, malformed, or not the key of witness.json.
        """
        try:
            key = read_key_file(self.key_path)
        except CryptoError as exc:
            raise _error(ErrorCode.BAD_KEY, f"the witness key in {self.path}: {exc.message}") from None
        except OSError as exc:
            raise _error(ErrorCode.BAD_KEY, f"cannot read the witness key in {self.path}: {exc.strerror}") from None
        if cosigner_vkey(self.name, key.public_key) != self.vkey:
            raise _error(ErrorCode.BAD_KEY, "the witness key file does not match the vkey of witness.json")
        return key

    def open(self, logs: Sequence[NoteVerifier], clock: SecondsClock) -> Witness:
        """The witness of this directory, for the logs whose keys are given, with its state opened.

        Raises:
            RegistryError (`bad_key`, `unavailable`).
        """
        key = self.key()
        state = WitnessState.open(self.state_path)
        return Witness(self.name, key, logs, state, clock, evidence_dir=self.evidence_dir)


def create_witness_dir(path: Path, name: str, key: SigningKey) -> WitnessDir:
    """Create a witness directory (0700) with its key (0600) and witness.json.

    Raises:
        RegistryError (`bad_key`): `name` is not a valid key name (protocol §5.4-d).
            (`unavailable`): DIR exists and is not empty, or cannot be written; nothing is left behind.
    """
    path = Path(path)
    if not check_key_name(name):
        raise _error(ErrorCode.BAD_KEY, "a witness name is a key name: non-empty, no space, '+' or control")
    created = not path.exists()
    if not created and (not path.is_dir() or any(path.iterdir())):
        raise _error(ErrorCode.UNAVAILABLE, f"{path} exists and is not an empty directory")
    vkey = cosigner_vkey(name, key.public_key)
    document = {"format": WITNESS_FORMAT, "name": name, "vkey": vkey}
    try:
        path.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        os.chmod(path, _DIR_MODE)
        write_key_file(path / WITNESS_KEY_FILE, key)
        with open(path / WITNESS_CONFIG_FILE, "x", encoding="utf-8") as file:
            file.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
            file.flush()
            os.fsync(file.fileno())
    except OSError as exc:
        for leftover in (WITNESS_KEY_FILE, WITNESS_CONFIG_FILE):
            with contextlib.suppress(OSError):
                (path / leftover).unlink()
        if created:
            with contextlib.suppress(OSError):
                path.rmdir()
        raise _error(ErrorCode.UNAVAILABLE, f"cannot create the witness directory {path}: {exc.strerror}") from None
    return WitnessDir(path, name, vkey)


def open_witness_dir(path: Path) -> WitnessDir:
    """Read an existing witness directory.

    Raises:
        RegistryError (`not_found`): no witness.json. (`malformed_encoding`): a broken one.
    """
    path = Path(path)
    try:
        with open(path / WITNESS_CONFIG_FILE, "rb") as file:
            data = file.read(_MAX_CONFIG + 1)
    except OSError:
        raise _error(ErrorCode.NOT_FOUND, f"{path} is not a witness directory (run registry witness init)") from None
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeError, ValueError, RecursionError):
        raise _error(ErrorCode.MALFORMED_ENCODING, f"{WITNESS_CONFIG_FILE} is not JSON") from None
    if (
        not isinstance(document, dict)
        or set(document) != {"format", "name", "vkey"}
        or document["format"] != WITNESS_FORMAT
        or not isinstance(document["name"], str)
        or not isinstance(document["vkey"], str)
    ):
        raise _error(ErrorCode.MALFORMED_ENCODING, f"{WITNESS_CONFIG_FILE} is not a {WITNESS_FORMAT} document")
    return WitnessDir(path, document["name"], document["vkey"])
