"""The data directory of a log operated locally (protocol §5.6, §9; STYLE §9).

Layout of DIR (mode 0700), created by `registry init`:

    DIR/config.json     {"database_url": URL or null, "format": "antiwar-registry-data/v1",
                         "log_vkey": VKEY, "origin": ORIGIN}   (mode 0600: a URL may hold a password)
    DIR/log.key         the log's signing key (crypto.keyfile, mode 0600); it never leaves DIR
    DIR/log.sqlite3     the default database (plus its -wal and -shm files)

Which database a command opens, first match wins:
    1. the `database_url` of config.json, recorded by `registry init --database URL`;
    2. the environment variable `DATABASE_URL` (so a password can stay out of every file);
    3. the SQLite file DIR/log.sqlite3.
A command never creates a log outside `init`: a URL that leads to an empty database fails with
`not_found`, and a database holding another log fails on its key.

Shell code: files and the environment, passed in explicitly (`env`). No clock, no network.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from crypto.errors import CryptoError
from crypto.keyfile import read_key_file, write_key_file
from crypto.keys import SigningKey
from crypto.notekey import NoteSigner, parse_vkey

from .atomic import write_atomic
from .errors import ErrorCode, RegistryError, Rejection

__all__ = [
    "CONFIG_FILE",
    "CONFIG_FORMAT",
    "DATABASE_URL_ENV",
    "DB_FILE",
    "LOG_KEY_FILE",
    "DataDir",
    "DataDirConfig",
    "create_data_dir",
    "default_database_url",
    "format_config",
    "open_data_dir",
    "parse_config",
    "remove_data_dir_files",
]

CONFIG_FILE: Final = "config.json"
LOG_KEY_FILE: Final = "log.key"
DB_FILE: Final = "log.sqlite3"
CONFIG_FORMAT: Final = "antiwar-registry-data/v1"
DATABASE_URL_ENV: Final = "DATABASE_URL"
_DIR_MODE: Final = 0o700
_CONFIG_MODE: Final = 0o600
_MAX_CONFIG_SIZE: Final = 16_384


def _error(code: ErrorCode, message: str) -> RegistryError:
    return RegistryError(Rejection(code, message, ""))


@dataclass(frozen=True, slots=True)
class DataDirConfig:
    """The content of config.json. `database_url` is None for "DATABASE_URL or the default SQLite file"."""

    origin: str
    log_vkey: str
    database_url: str | None = None


def format_config(config: DataDirConfig) -> bytes:
    document = {
        "database_url": config.database_url,
        "format": CONFIG_FORMAT,
        "log_vkey": config.log_vkey,
        "origin": config.origin,
    }
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")


def parse_config(data: bytes) -> DataDirConfig:
    """Parse config.json.

    Raises:
        RegistryError (`malformed_encoding`): not the expected JSON object.
    """
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeError, ValueError, RecursionError):
        raise _error(ErrorCode.MALFORMED_ENCODING, "the data directory's config.json is not JSON") from None
    if not isinstance(document, dict) or document.get("format") != CONFIG_FORMAT:
        raise _error(ErrorCode.MALFORMED_ENCODING, f"config.json is not a {CONFIG_FORMAT} document")
    if set(document) != {"database_url", "format", "log_vkey", "origin"}:
        raise _error(ErrorCode.MALFORMED_ENCODING, "config.json must hold database_url, format, log_vkey, origin")
    origin, vkey, url = document["origin"], document["log_vkey"], document["database_url"]
    if not isinstance(origin, str) or not isinstance(vkey, str) or not (url is None or isinstance(url, str)):
        raise _error(ErrorCode.MALFORMED_ENCODING, "config.json fields origin, log_vkey, database_url have wrong types")
    return DataDirConfig(origin, vkey, url or None)


@dataclass(frozen=True, slots=True)
class DataDir:
    """An existing data directory and its configuration."""

    path: Path
    config: DataDirConfig

    @property
    def key_path(self) -> Path:
        return self.path / LOG_KEY_FILE

    @property
    def default_database_url(self) -> str:
        return default_database_url(self.path)

    def database_url(self, env: Mapping[str, str]) -> str:
        """The database to open, by the precedence in the module docstring."""
        if self.config.database_url:
            return self.config.database_url
        from_env = env.get(DATABASE_URL_ENV, "")
        return from_env or self.default_database_url

    def signer(self) -> NoteSigner:
        """The log's signing key, checked against the verifier key in config.json.

        Raises:
            RegistryError (`bad_key`): the key file is missing, malformed, or not the configured key.
        """
        try:
            key = read_key_file(self.key_path)
            signer = NoteSigner(self.config.origin, key)
            configured = parse_vkey(self.config.log_vkey)
        except CryptoError as exc:
            raise _error(ErrorCode.BAD_KEY, f"the log key in {self.path}: {exc.message}") from exc
        except OSError as exc:
            raise _error(ErrorCode.BAD_KEY, f"cannot read the log key in {self.path}: {exc.strerror}") from exc
        if signer.verifier != configured:
            raise _error(ErrorCode.BAD_KEY, "the log key file does not match the log_vkey of config.json")
        return signer


def default_database_url(path: Path) -> str:
    """The URL of the default SQLite database in data directory `path`."""
    return f"sqlite:///{(Path(path) / DB_FILE).resolve()}"


def open_data_dir(path: Path) -> DataDir:
    """Read an existing data directory.

    Raises:
        RegistryError (`not_found`): no config.json; (`malformed_encoding`): a broken one.
    """
    path = Path(path)
    try:
        with open(path / CONFIG_FILE, "rb") as file:
            data = file.read(_MAX_CONFIG_SIZE + 1)
    except FileNotFoundError:
        message = f"{path} is not a data directory (no {CONFIG_FILE}; run registry init)"
        raise _error(ErrorCode.NOT_FOUND, message) from None
    except OSError as exc:
        raise _error(ErrorCode.NOT_FOUND, f"cannot read {path / CONFIG_FILE}: {exc.strerror}") from None
    if len(data) > _MAX_CONFIG_SIZE:
        raise _error(ErrorCode.MALFORMED_ENCODING, f"{CONFIG_FILE} is over {_MAX_CONFIG_SIZE} bytes")
    return DataDir(path, parse_config(data))


def create_data_dir(path: Path, origin: str, database_url: str | None, key: SigningKey) -> DataDir:
    """Create DIR (0700) with the log key (0600) and config.json (0600). Creates no database.

    Args:
        path: the directory; it may exist only if it is empty.
        origin: the log's origin, which is also its key name.
        database_url: recorded in config.json when given (it then wins over `DATABASE_URL`).
        key: the log's new signing key.

    Raises:
        RegistryError (`unavailable`): DIR exists and is not empty, or cannot be created; nothing is
            left behind that was not there before. (`bad_key`): the origin is not a valid key name.
    """
    path = Path(path)
    try:
        signer = NoteSigner(origin, key)
    except CryptoError as exc:
        raise _error(ErrorCode.BAD_KEY, f"the origin cannot name the log key: {exc.message}") from exc
    created = not path.exists()
    if not created and (not path.is_dir() or any(path.iterdir())):
        raise _error(ErrorCode.UNAVAILABLE, f"{path} exists and is not an empty directory; refusing to init there")
    try:
        path.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        os.chmod(path, _DIR_MODE)  # mkdir's mode is filtered by the umask; an existing DIR keeps its mode
        write_key_file(path / LOG_KEY_FILE, key)
        config = DataDirConfig(origin, signer.vkey, database_url)
        _write_private(path / CONFIG_FILE, format_config(config))
    except OSError as exc:
        remove_data_dir_files(path, remove_dir=created)
        raise _error(ErrorCode.UNAVAILABLE, f"cannot create the data directory {path}: {exc.strerror}") from exc
    return DataDir(path, config)


def remove_data_dir_files(path: Path, *, remove_dir: bool) -> None:
    """Undo `create_data_dir` (and a default SQLite database) after a failed `init`."""
    for name in (CONFIG_FILE, LOG_KEY_FILE, DB_FILE, f"{DB_FILE}-wal", f"{DB_FILE}-shm", f"{DB_FILE}-journal"):
        with contextlib.suppress(FileNotFoundError):
            (path / name).unlink()
    if remove_dir:
        with contextlib.suppress(OSError):
            path.rmdir()


def _write_private(path: Path, data: bytes) -> None:
    """Write a new 0600 file atomically (temporary file, fsync, link into place)."""
    write_atomic(path, data, mode=_CONFIG_MODE, exact_mode=True, overwrite=False)
