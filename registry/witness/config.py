"""The log operator's witness configuration: which witnesses a log sends its checkpoints to, where,
and how many cosignatures (the quorum k) a checkpoint needs before it is published (protocol §6.3).

Stored in the data directory as DIR/witnesses.json (mode 0600, written atomically):

    {"format": "antiwar-registry-witnesses/v1", "quorum": K,
     "witnesses": [{"url": "http://127.0.0.1:8101", "vkey": "<name>+<hex8>+<base64>"}, ...]}

No file means no witnesses and quorum 0: the log publishes checkpoints it signed alone. The pure
functions `add_witness`, `remove_witness` and `set_quorum` return a new configuration or raise;
`load_witness_config` and `save_witness_config` are the only I/O. `trust_policy` gives the verifiers'
trust policy (`registry.trust`, C2SP tlog-policy) that matches the configuration.

Shell code: files only. No network (`registry.witness.client` talks to the witnesses).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from crypto.errors import CryptoError
from crypto.notekey import SIG_TYPE_COSIGNATURE, NoteVerifier, format_vkey, parse_vkey

from ..atomic import fsync_directory, write_atomic
from ..errors import ErrorCode, RegistryError, Rejected, Rejection
from ..trust import TrustPolicy
from .client import WitnessEndpoint

__all__ = [
    "MAX_WITNESSES",
    "WITNESSES_FILE",
    "WITNESSES_FORMAT",
    "ConfiguredWitness",
    "WitnessConfig",
    "add_witness",
    "format_witness_config",
    "load_witness_config",
    "parse_witness_config",
    "remove_witness",
    "save_witness_config",
    "set_quorum",
    "trust_policy",
]

WITNESSES_FILE: Final = "witnesses.json"
WITNESSES_FORMAT: Final = "antiwar-registry-witnesses/v1"
MAX_WITNESSES: Final = 32
"""protocol §6.3-a: at most 32 witnesses (tlog-policy's minimum that implementations must support)."""

_MAX_FILE_SIZE: Final = 64 * 1024
_MAX_URL: Final = 2048
_FILE_MODE: Final = 0o600


def _error(code: ErrorCode, message: str) -> RegistryError:
    return RegistryError(Rejection(code, message, "6.3-a"))


@dataclass(frozen=True, slots=True)
class ConfiguredWitness:
    """One witness of the log: its type 0x04 verifier key and its submission URL.

    Raises (on construction):
        RegistryError (`bad_key`): not a type 0x04 vkey. (`malformed_encoding`): not an http(s) URL.
    """

    vkey: str
    url: str

    def __post_init__(self) -> None:
        verifier = _witness_verifier(self.vkey)
        if format_vkey(verifier) != self.vkey:
            raise _error(ErrorCode.BAD_KEY, "the witness vkey is not in canonical form")
        if (
            not self.url.startswith(("http://", "https://"))
            or len(self.url) > _MAX_URL
            or any(c.isspace() or ord(c) < 0x20 for c in self.url)
        ):
            raise _error(ErrorCode.MALFORMED_ENCODING, "a witness URL is an http:// or https:// URL without spaces")

    @property
    def verifier(self) -> NoteVerifier:
        return parse_vkey(self.vkey)

    @property
    def name(self) -> str:
        return self.verifier.name

    @property
    def endpoint(self) -> WitnessEndpoint:
        return WitnessEndpoint(self.verifier, self.url)


@dataclass(frozen=True, slots=True)
class WitnessConfig:
    """The witnesses (in the order they were added) and the quorum.

    Raises (on construction):
        RegistryError (`bad_key`): two witnesses with one name or one public key, more than 32
            witnesses, or a quorum outside [0, number of witnesses].
    """

    quorum: int
    witnesses: tuple[ConfiguredWitness, ...]

    def __post_init__(self) -> None:
        names = [w.name for w in self.witnesses]
        keys = [w.verifier.public_key for w in self.witnesses]
        # protocol §6.3-a, §6.1-d: one name per witness, one key per name.
        if len(set(names)) != len(names):
            raise _error(ErrorCode.BAD_KEY, "two witnesses share a name")
        if len(set(keys)) != len(keys):
            raise _error(ErrorCode.BAD_KEY, "two witnesses share a public key")
        if len(self.witnesses) > MAX_WITNESSES:
            raise _error(ErrorCode.BAD_KEY, f"a log has at most {MAX_WITNESSES} witnesses")
        if isinstance(self.quorum, bool) or not 0 <= self.quorum <= len(self.witnesses):
            raise _error(ErrorCode.BAD_KEY, f"the quorum must be in [0, {len(self.witnesses)}], got {self.quorum}")

    @property
    def endpoints(self) -> tuple[WitnessEndpoint, ...]:
        return tuple(w.endpoint for w in self.witnesses)


def _witness_verifier(vkey: str) -> NoteVerifier:
    try:
        verifier = parse_vkey(vkey)
    except CryptoError as exc:
        raise _error(ErrorCode.BAD_KEY, f"the witness vkey: {exc.message}") from None
    if verifier.sig_type != SIG_TYPE_COSIGNATURE:
        raise _error(ErrorCode.BAD_KEY, "a witness vkey has type 0x04 (a log key has type 0x01)")
    return verifier


def add_witness(config: WitnessConfig, vkey: str, url: str) -> WitnessConfig:
    """The configuration with one more witness; the quorum is unchanged.

    Raises:
        RegistryError (`bad_key`, `malformed_encoding`): see `ConfiguredWitness` and `WitnessConfig`.
    """
    return replace(config, witnesses=(*config.witnesses, ConfiguredWitness(vkey, url)))


def remove_witness(config: WitnessConfig, vkey_or_name: str) -> WitnessConfig:
    """The configuration without the witness whose vkey or name is given.

    Raises:
        RegistryError (`not_found`): no such witness. (`bad_key`): the quorum would exceed the number
            of witnesses left (lower it first with `set_quorum`).
    """
    kept = tuple(w for w in config.witnesses if vkey_or_name not in (w.vkey, w.name))
    if len(kept) == len(config.witnesses):
        raise _error(ErrorCode.NOT_FOUND, "no configured witness has that vkey or name")
    if config.quorum > len(kept):
        raise _error(ErrorCode.BAD_KEY, f"the quorum {config.quorum} would exceed the {len(kept)} witnesses left; "
                     "lower it first")
    return replace(config, witnesses=kept)


def set_quorum(config: WitnessConfig, quorum: int) -> WitnessConfig:
    """The configuration with quorum `quorum`.

    Raises:
        RegistryError (`bad_key`): `quorum` not in [0, number of witnesses].
    """
    return replace(config, quorum=quorum)


def format_witness_config(config: WitnessConfig) -> bytes:
    """Encode witnesses.json (sorted keys, two-space indent, final newline)."""
    document = {
        "format": WITNESSES_FORMAT,
        "quorum": config.quorum,
        "witnesses": [{"url": w.url, "vkey": w.vkey} for w in config.witnesses],
    }
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=True) + "\n").encode("ascii")


def parse_witness_config(data: bytes) -> WitnessConfig:
    """Parse witnesses.json strictly (protocol §6.3-a).

    Raises:
        RegistryError (`malformed_encoding`): not the document above; (`bad_key`): see `WitnessConfig`.
    """
    if len(data) > _MAX_FILE_SIZE:
        raise _error(ErrorCode.TOO_LARGE, f"{WITNESSES_FILE} is over {_MAX_FILE_SIZE} bytes")
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeError, ValueError, RecursionError):
        raise _error(ErrorCode.MALFORMED_ENCODING, f"{WITNESSES_FILE} is not JSON") from None
    if not isinstance(document, dict) or set(document) != {"format", "quorum", "witnesses"}:
        raise _error(ErrorCode.MALFORMED_ENCODING, f"{WITNESSES_FILE} holds exactly format, quorum and witnesses")
    if document["format"] != WITNESSES_FORMAT:
        raise _error(ErrorCode.MALFORMED_ENCODING, f"{WITNESSES_FILE} is not a {WITNESSES_FORMAT} document")
    quorum, items = document["quorum"], document["witnesses"]
    if not isinstance(quorum, int) or isinstance(quorum, bool) or not isinstance(items, list):
        raise _error(ErrorCode.MALFORMED_ENCODING, "quorum is an integer and witnesses a list")
    witnesses: list[ConfiguredWitness] = []
    for item in items:
        if not isinstance(item, dict) or set(item) != {"url", "vkey"}:
            raise _error(ErrorCode.MALFORMED_ENCODING, "each witness holds exactly url and vkey")
        url, vkey = item["url"], item["vkey"]
        if not isinstance(url, str) or not isinstance(vkey, str):
            raise _error(ErrorCode.MALFORMED_ENCODING, "a witness's url and vkey are strings")
        witnesses.append(ConfiguredWitness(vkey, url))
    return WitnessConfig(quorum, tuple(witnesses))


def load_witness_config(data_dir: Path) -> WitnessConfig:
    """Read DIR/witnesses.json; no file means no witnesses and quorum 0.

    Raises:
        RegistryError (`malformed_encoding`, `bad_key`): a broken file; (`unavailable`): unreadable.
    """
    path = Path(data_dir) / WITNESSES_FILE
    try:
        with open(path, "rb") as file:
            data = file.read(_MAX_FILE_SIZE + 1)
    except FileNotFoundError:
        return WitnessConfig(0, ())
    except OSError as exc:
        raise _error(ErrorCode.UNAVAILABLE, f"cannot read {path}: {exc.strerror}") from None
    return parse_witness_config(data)


def save_witness_config(data_dir: Path, config: WitnessConfig) -> None:
    """Replace DIR/witnesses.json atomically (temporary file, fsync, rename, directory fsync), mode 0600.

    A crash leaves the old file or the new one, never a mix.

    Raises:
        RegistryError (`unavailable`): the file cannot be written; the old one is untouched.
    """
    path = Path(data_dir) / WITNESSES_FILE
    data = format_witness_config(config)
    try:
        write_atomic(path, data, mode=_FILE_MODE, exact_mode=True)
    except OSError as exc:
        raise _error(ErrorCode.UNAVAILABLE, f"cannot write {path}: {exc.strerror}") from None
    # Best effort: the new file is in place, so a failure here must not report the old one untouched.
    with contextlib.suppress(OSError):
        fsync_directory(path.parent)


def trust_policy(config: WitnessConfig, log_vkey: str) -> TrustPolicy:
    """The trust policy of protocol §9.7 that a verifier of this log can start from: the log key, every
    witness, and the log's quorum (protocol §6.3-e). Verifiers may demand more.

    Raises:
        Rejected (`bad_key`): `log_vkey` is not a type 0x01 vkey.
    """
    try:
        log = parse_vkey(log_vkey)
    except CryptoError as exc:
        raise Rejected(Rejection(ErrorCode.BAD_KEY, f"the log vkey: {exc.message}", "6.3-e")) from None
    witnesses = tuple(w.verifier for w in config.witnesses)
    return TrustPolicy(origin=log.name, log=log, witnesses=witnesses, quorum=config.quorum)
