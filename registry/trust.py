"""A verifier's trust policy: the log, its witnesses, the quorum and the maximum age (protocol §9.7).

The file is the line format of C2SP tlog-policy (the Sigsum policy format), restricted to what an
offline credential check needs, plus one line of this protocol:

    log <vkey>                                 exactly once; the key's name is the log's origin
    witness <name> <vkey>                      0 to 32 times; type 0x04 keys (§6.1)
    group <name> <k>|all|any <witness>...      at most once, naming every witness; 1 <= k <= n
    quorum <group name>|none                   exactly once
    max-age <duration>                         this protocol's line: how old a credential may be

Durations are a decimal and a unit (`ms`, `s`, `m`, `h`, `d`): `72h`. Lines starting with `#` and
blank lines are ignored by the parser; `format_trust_policy` writes none, so a file it wrote parses and
formats back to the same bytes. Nested groups, URLs and several logs (which tlog-policy allows) are
refused: a quorum here is k of one flat list of witnesses, as `crypto.cosignature` counts it.

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from crypto.errors import BadKey
from crypto.note import check_key_name
from crypto.notekey import SIG_TYPE_COSIGNATURE, SIG_TYPE_ED25519, NoteVerifier, format_vkey, parse_vkey

from .errors import ErrorCode, Rejected, Rejection

__all__ = [
    "DEFAULT_MAX_AGE_MS",
    "MAX_POLICY_SIZE",
    "MAX_WITNESSES",
    "TrustPolicy",
    "format_duration",
    "format_trust_policy",
    "parse_duration",
    "parse_trust_policy",
]

DEFAULT_MAX_AGE_MS: Final = 72 * 3_600_000
"""protocol §8.1: a credential older than 72 hours is stale unless the policy says otherwise."""
MAX_POLICY_SIZE: Final = 65_536
MAX_WITNESSES: Final = 32
MAX_AGE_LIMIT_MS: Final = 366 * 86_400_000
_GROUP: Final = "witnesses"
_UNITS: Final = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1))
_DURATION_RE: Final = re.compile(r"(0|[1-9][0-9]{0,15})(ms|s|m|h|d)")


def _malformed(message: str) -> Rejected:
    return Rejected(Rejection(ErrorCode.MALFORMED_ENCODING, message, "9.7-b"))


def parse_duration(text: str) -> int:
    """A duration such as `72h`, `90m`, `1500ms` in milliseconds (1 ms to 366 days).

    Raises:
        Rejected: `malformed_encoding` for any other text.
    """
    match = _DURATION_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise _malformed("a duration is a number and a unit: ms, s, m, h or d (e.g. 72h)")
    value = int(match.group(1)) * dict(_UNITS)[match.group(2)]
    if not 1 <= value <= MAX_AGE_LIMIT_MS:
        raise _malformed("a maximum age lies between 1 ms and 366 days")
    return value


def format_duration(ms: int) -> str:
    """The shortest exact form of a duration: the largest unit that divides it (`259200000` -> `3d`)."""
    for unit, size in _UNITS:
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"  # unreachable: 1 ms divides everything


@dataclass(frozen=True, slots=True)
class TrustPolicy:
    """What a verifier trusts (protocol §9.7-a): the log's origin and key, the witnesses' keys, how many
    of them must cosign, and the maximum age of a credential in milliseconds.

    Raises (on construction):
        Rejected: `bad_key` for a log key that is not type 0x01 or is not named after the origin, a
            witness key that is not type 0x04, a repeated witness name, key ID or public key, or a quorum
            outside [0, number of witnesses]; `malformed_encoding` for a bad maximum age.
    """

    origin: str
    log: NoteVerifier
    witnesses: tuple[NoteVerifier, ...] = ()
    quorum: int = 0
    max_age_ms: int = DEFAULT_MAX_AGE_MS

    def __post_init__(self) -> None:
        if self.log.sig_type != SIG_TYPE_ED25519:
            raise Rejected(Rejection(ErrorCode.BAD_KEY, "the log key must be an Ed25519 (type 0x01) key", "9.7-a"))
        if self.log.name != self.origin:
            raise Rejected(Rejection(ErrorCode.BAD_KEY, "the log key's name must be the log's origin", "9.7-a"))
        if len(self.witnesses) > MAX_WITNESSES:
            raise _malformed(f"a policy names at most {MAX_WITNESSES} witnesses")
        names: set[str] = set()
        ids: set[bytes] = set()
        keys: set[bytes] = set()
        for w in self.witnesses:
            if w.sig_type != SIG_TYPE_COSIGNATURE:
                raise Rejected(Rejection(ErrorCode.BAD_KEY, "a witness key must be a type 0x04 key", "9.7-a"))
            if w.name in names or w.key_id in ids:
                raise Rejected(
                    Rejection(ErrorCode.BAD_KEY, f"two witness keys share the name or key ID of {w.name}", "9.7-a")
                )
            # protocol §6.1-d: a cosignature does not name its witness, so one key listed under two names
            # would count one witness twice towards the quorum.
            if w.public_key in keys:
                message = f"the key of {w.name} is listed under another name"
                raise Rejected(Rejection(ErrorCode.BAD_KEY, message, "6.1-d"))
            names.add(w.name)
            ids.add(w.key_id)
            keys.add(w.public_key)
        if isinstance(self.quorum, bool) or not 0 <= self.quorum <= len(self.witnesses):
            raise Rejected(
                Rejection(
                    ErrorCode.BAD_KEY, f"the quorum must lie in [0, {len(self.witnesses)}], got {self.quorum}", "9.7-a"
                )
            )
        if isinstance(self.max_age_ms, bool) or not 1 <= self.max_age_ms <= MAX_AGE_LIMIT_MS:
            raise _malformed("a maximum age lies between 1 ms and 366 days")

    def witness_by_key_id(self, key_id: bytes) -> NoteVerifier | None:
        """The witness whose key ID is `key_id` (unique in a policy), or None."""
        for w in self.witnesses:
            if w.key_id == key_id:
                return w
        return None


def format_trust_policy(policy: TrustPolicy) -> str:
    """The policy file text (protocol §9.7-b); `parse_trust_policy` of it gives back `policy`."""
    lines = [f"log {format_vkey(policy.log)}"]
    lines += [f"witness {w.name} {format_vkey(w)}" for w in policy.witnesses]
    if policy.quorum:
        lines.append(f"group {_GROUP} {policy.quorum} {' '.join(w.name for w in policy.witnesses)}")
    lines.append(f"quorum {_GROUP if policy.quorum else 'none'}")
    lines.append(f"max-age {format_duration(policy.max_age_ms)}")
    return "\n".join(lines) + "\n"


def _vkey(text: str, what: str) -> NoteVerifier:
    try:
        return parse_vkey(text)
    except BadKey as exc:
        raise Rejected(Rejection(ErrorCode.BAD_KEY, f"{what}: {exc.message}", "9.7-a")) from None


def parse_trust_policy(text: str | bytes) -> TrustPolicy:
    """Parse a policy file (protocol §9.7-b).

    Raises:
        Rejected: `too_large` over 65,536 bytes; `malformed_encoding` for an unknown or repeated line,
            a missing `log` or `quorum` line, a group that does not name every witness once, nested
            groups or URLs; `bad_key` for any key or quorum `TrustPolicy` refuses.
    """
    if isinstance(text, bytes):
        if len(text) > MAX_POLICY_SIZE:
            raise Rejected(Rejection(ErrorCode.TOO_LARGE, "a trust policy is at most 65536 bytes", "9.7-b"))
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise _malformed("a trust policy is UTF-8 text") from None
    if len(text) > MAX_POLICY_SIZE:
        raise Rejected(Rejection(ErrorCode.TOO_LARGE, "a trust policy is at most 65536 bytes", "9.7-b"))
    log: NoteVerifier | None = None
    witnesses: dict[str, NoteVerifier] = {}
    group: tuple[str, str, Sequence[str]] | None = None
    quorum: str | None = None
    max_age_ms: int | None = None
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        kind, args = words[0], words[1:]
        where = f"line {number}"
        if kind == "log":
            if log is not None or len(args) != 1:
                raise _malformed(f"{where}: exactly one 'log <vkey>' line, without URL")
            log = _vkey(args[0], where)
        elif kind == "witness":
            if len(args) != 2 or not check_key_name(args[0]) or args[0] in witnesses:
                raise _malformed(f"{where}: 'witness <name> <vkey>' with a new name and no URL")
            witness = _vkey(args[1], where)
            if witness.name != args[0]:
                raise _malformed(f"{where}: the witness's name must be its key's name")
            witnesses[args[0]] = witness
        elif kind == "group":
            if group is not None or len(args) < 3:
                raise _malformed(f"{where}: at most one 'group <name> <k>|all|any <witness>...' line")
            group = (args[0], args[1], args[2:])
        elif kind == "quorum":
            if quorum is not None or len(args) != 1:
                raise _malformed(f"{where}: exactly one 'quorum <group>|none' line")
            quorum = args[0]
        elif kind == "max-age":
            if max_age_ms is not None or len(args) != 1:
                raise _malformed(f"{where}: at most one 'max-age <duration>' line")
            max_age_ms = parse_duration(args[0])
        else:
            raise _malformed(f"{where}: unknown line {kind!r}")
    if log is None or quorum is None:
        raise _malformed("a trust policy needs a 'log' line and a 'quorum' line")
    k = 0
    if quorum != "none":
        if group is None or group[0] != quorum:
            raise _malformed(f"the quorum names {quorum!r}, which is not the policy's group")
    if group is not None:
        _, threshold, members = group
        if sorted(members) != sorted(witnesses) or len(set(members)) != len(members):
            raise _malformed("the group must name every witness exactly once (groups do not nest)")
        if threshold == "all":
            k = len(members)
        elif threshold == "any":
            k = 1
        elif re.fullmatch(r"[1-9][0-9]{0,2}", threshold) and int(threshold) <= len(members):
            k = int(threshold)
        else:
            raise _malformed("a group threshold is a number from 1 to its size, 'all' or 'any'")
        if quorum == "none":
            k = 0
    return TrustPolicy(
        origin=log.name,
        log=log,
        witnesses=tuple(witnesses.values()),
        quorum=k,
        max_age_ms=DEFAULT_MAX_AGE_MS if max_age_ms is None else max_age_ms,
    )
