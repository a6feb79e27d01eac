"""Statements, entries and leaves: the wire format of the membership log (protocol §4.2, §5.6, §7.1).

A *statement* is a canonical JSON object naming its type, the log origin and its creation time. An
*entry* is a statement with the signatures over it, as a member submits it. A *leaf* is an entry
wrapped by the sequencer with its log index and log time; the leaf's bytes are what the Merkle tree
hashes. This module parses and formats all three and verifies the signatures of an entry. It holds
no state and does no I/O: which keys *must* sign is decided by the rules engine (`rules.py`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Final, NewType

from crypto import canonical
from crypto.domain import check_origin, signing_message
from crypto.errors import BadKey, BadSignature, CryptoError, MalformedEncoding, TooLarge
from crypto.keys import SIGNATURE_SIZE, SigningKey, check_public_key, fingerprint, verify_strict

from .errors import ErrorCode, Rejected, Rejection

__all__ = [
    "MAX_ENTRY_SIZE",
    "MAX_LEAF_SIZE",
    "STATEMENT_VERSION",
    "Declare",
    "Entry",
    "Leaf",
    "MemberId",
    "Params",
    "PolicyStatement",
    "Reason",
    "Reinstate",
    "Revoke",
    "Rotate",
    "Signature",
    "Statement",
    "StatementType",
    "Unvouch",
    "VerifiedEntry",
    "Vouch",
    "declaration_hash",
    "entry_from_statement",
    "format_entry",
    "format_leaf",
    "format_statement",
    "parse_entry",
    "parse_leaf",
    "parse_statement",
    "sign_entry",
    "verify_entry",
]

STATEMENT_VERSION: Final = 1
MAX_ENTRY_SIZE: Final = 60_000  # protocol §4.2-a: leaves must fit the u16 length of an entry bundle
MAX_LEAF_SIZE: Final = 65_535
MAX_SIGNATURES: Final = 32
MAX_DECLARATION_BYTES: Final = 16_384

MemberId = NewType("MemberId", bytes)
"""A member's identifier: the 32-byte public key with which the member declared. Stable across rotation."""


class StatementType(StrEnum):
    POLICY = "policy"
    DECLARE = "declare"
    VOUCH = "vouch"
    UNVOUCH = "unvouch"
    REVOKE = "revoke"
    REINSTATE = "reinstate"
    ROTATE = "rotate"


class Reason(StrEnum):
    """Revocation reasons (protocol §7.6). The first three are the member's own, the last two the council's."""

    WITHDRAWN = "withdrawn"
    KEY_COMPROMISED = "key_compromised"
    DURESS = "duress"
    FRAUD = "fraud"
    DECLARATION_BREACH = "declaration_breach"

    @property
    def by_council(self) -> bool:
        return self in (Reason.FRAUD, Reason.DECLARATION_BREACH)


@dataclass(frozen=True, slots=True)
class Params:
    """Rule parameters of a policy (protocol §7.2). Defaults and their reasons are in the spec."""

    vouch_threshold: int = 2
    voucher_min_age_days: int = 30
    max_pending_vouchees: int = 2
    vouch_quota: int = 12
    strike_limit: int = 2
    sponsor_required: bool = True
    max_pending_members: int = 10_000
    rate_limit_per_day: int = 20


_PARAM_BOUNDS: Final[Mapping[str, tuple[int, int]]] = {
    "vouch_threshold": (1, 16),
    "voucher_min_age_days": (0, 3650),
    "max_pending_vouchees": (1, 1000),
    "vouch_quota": (1, 10_000),
    "strike_limit": (1, 100),
    "max_pending_members": (1, 10_000_000),
    "rate_limit_per_day": (1, 100_000),
}


@dataclass(frozen=True, slots=True)
class PolicyStatement:
    """The genesis (version 0) or an amendment (version n+1) of the rules (protocol §7.2)."""

    origin: str
    created_ms: int
    version: int
    founders: tuple[MemberId, ...]
    council: tuple[bytes, ...]
    threshold: int
    declarations: Mapping[str, str]
    params: Params


@dataclass(frozen=True, slots=True)
class Declare:
    origin: str
    created_ms: int
    member: MemberId
    declaration: bytes
    commitment: bytes | None
    sponsor: MemberId | None


@dataclass(frozen=True, slots=True)
class Vouch:
    origin: str
    created_ms: int
    voucher: MemberId
    subject: MemberId
    commitment: bytes | None


@dataclass(frozen=True, slots=True)
class Unvouch:
    origin: str
    created_ms: int
    voucher: MemberId
    subject: MemberId


@dataclass(frozen=True, slots=True)
class Revoke:
    origin: str
    created_ms: int
    member: MemberId
    reason: Reason
    evidence: bytes | None


@dataclass(frozen=True, slots=True)
class Reinstate:
    origin: str
    created_ms: int
    member: MemberId
    evidence: bytes | None


@dataclass(frozen=True, slots=True)
class Rotate:
    origin: str
    created_ms: int
    member: MemberId
    new_key: bytes


Statement = PolicyStatement | Declare | Vouch | Unvouch | Revoke | Reinstate | Rotate

_TYPE_OF: Final[Mapping[type, StatementType]] = {
    PolicyStatement: StatementType.POLICY,
    Declare: StatementType.DECLARE,
    Vouch: StatementType.VOUCH,
    Unvouch: StatementType.UNVOUCH,
    Revoke: StatementType.REVOKE,
    Reinstate: StatementType.REINSTATE,
    Rotate: StatementType.ROTATE,
}


def statement_type(statement: Statement) -> StatementType:
    return _TYPE_OF[type(statement)]


@dataclass(frozen=True, slots=True)
class Signature:
    key: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class Entry:
    """A statement with its signatures, as submitted. `payload` is the canonical statement bytes."""

    statement: Statement
    signatures: tuple[Signature, ...]
    payload: bytes
    encoded: bytes = field(default=b"", compare=False, repr=False)
    """The canonical entry bytes when known (as parsed); `format_entry` re-encodes otherwise."""

    @property
    def type(self) -> StatementType:
        return statement_type(self.statement)

    @property
    def payload_hash(self) -> bytes:
        """SHA-256 of the canonical statement: the identity used to refuse duplicates (protocol §7.1-d)."""
        return hashlib.sha256(self.payload).digest()

    @property
    def signers(self) -> frozenset[bytes]:
        return frozenset(s.key for s in self.signatures)


@dataclass(frozen=True, slots=True)
class VerifiedEntry:
    """An entry whose every signature verified for its purpose and origin. Only `verify_entry` makes one."""

    entry: Entry

    @property
    def statement(self) -> Statement:
        return self.entry.statement

    @property
    def signers(self) -> frozenset[bytes]:
        return self.entry.signers


@dataclass(frozen=True, slots=True)
class Leaf:
    """A sequenced entry: what the Merkle tree hashes (protocol §5.6)."""

    index: int
    logged_ms: int
    entry: Entry


# --- helpers ---------------------------------------------------------------------------------------


def _malformed(message: str, section: str = "4.2-b") -> Rejected:
    return Rejected(Rejection(ErrorCode.MALFORMED_ENTRY, message, section))


def _obj(value: object, what: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise _malformed(f"{what} must be a JSON object")
    return value


def _fields(obj: Mapping[str, object], required: Iterable[str], what: str) -> None:
    expected = set(required)
    keys = set(obj)
    if keys != expected:
        missing = sorted(expected - keys)
        extra = sorted(keys - expected)
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if extra:
            # The names of unknown fields are the client's text, never echoed (protocol §12-a): a
            # message may reach logs and other readers.
            parts.append(f"{len(extra)} unknown field{'s' if len(extra) > 1 else ''}")
        raise _malformed(f"{what} has wrong fields: {'; '.join(parts)}")


def _int(obj: Mapping[str, object], name: str, lo: int = 0, hi: int = 2**53 - 1) -> int:
    value = obj[name]
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise _malformed(f"field {name} must be an integer in [{lo}, {hi}]")
    return value


def _bool(obj: Mapping[str, object], name: str) -> bool:
    value = obj[name]
    if not isinstance(value, bool):
        raise _malformed(f"field {name} must be true or false")
    return value


def _hex32(value: object, name: str) -> bytes:
    if not isinstance(value, str) or len(value) != 64 or value != value.lower():
        raise _malformed(f"field {name} must be 64 lowercase hex digits")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise _malformed(f"field {name} must be 64 lowercase hex digits") from None


def _opt_hex32(value: object, name: str) -> bytes | None:
    return None if value is None else _hex32(value, name)


def _key(value: object, name: str) -> bytes:
    raw = _hex32(value, name)
    try:
        return check_public_key(raw)
    except BadKey as exc:
        raise Rejected(
            Rejection(ErrorCode.BAD_KEY, f"field {name} is not a valid Ed25519 public key", "4.2-d")
        ) from exc


def _member(value: object, name: str) -> MemberId:
    return MemberId(_key(value, name))


def _key_list(value: object, name: str, *, allow_empty: bool) -> tuple[bytes, ...]:
    if not isinstance(value, list) or (not value and not allow_empty) or len(value) > 64:
        raise _malformed(f"field {name} must be a list of 1 to 64 keys")
    keys = tuple(_key(v, name) for v in value)
    if list(keys) != sorted(set(keys)):
        raise _malformed(f"field {name} must be sorted and without duplicates", "4.2-c")
    return keys


def declaration_hash(text: str) -> bytes:
    """The identifier of a declaration text: SHA-256 of its UTF-8 bytes (protocol §7.2-c)."""
    return hashlib.sha256(text.encode("utf-8")).digest()


# --- statements ------------------------------------------------------------------------------------

_COMMON: Final = ("v", "type", "origin", "created_ms")
_KIND_FIELDS: Final[Mapping[StatementType, tuple[str, ...]]] = {
    StatementType.POLICY: ("version", "founders", "council", "threshold", "declarations", "params"),
    StatementType.DECLARE: ("member", "declaration", "commitment", "sponsor"),
    StatementType.VOUCH: ("voucher", "subject", "commitment"),
    StatementType.UNVOUCH: ("voucher", "subject"),
    StatementType.REVOKE: ("member", "reason", "evidence"),
    StatementType.REINSTATE: ("member", "evidence"),
    StatementType.ROTATE: ("member", "new_key"),
}


def parse_statement(value: object) -> Statement:
    """Build a statement from its decoded JSON object, checking every field (protocol §4.2).

    Raises:
        Rejected: `malformed_entry` for a wrong shape, `bad_key` for an invalid public key.
    """
    obj = _obj(value, "statement")
    type_name = obj.get("type")
    try:
        kind = StatementType(type_name) if isinstance(type_name, str) else None
    except ValueError:
        kind = None
    if kind is None:
        raise _malformed("field type must name a known statement type")
    _fields(obj, (*_COMMON, *_KIND_FIELDS[kind]), f"a {kind} statement")
    if obj["v"] != STATEMENT_VERSION or isinstance(obj["v"], bool):
        raise _malformed(f"field v must be {STATEMENT_VERSION}")
    origin = obj["origin"]
    if not isinstance(origin, str) or check_origin(origin) is not None:
        raise _malformed("field origin must be a log origin: 1 to 255 printable ASCII characters, no spaces or '+'")
    created_ms = _int(obj, "created_ms")
    if kind is StatementType.POLICY:
        return _parse_policy(obj, origin, created_ms)
    if kind is StatementType.DECLARE:
        return Declare(
            origin,
            created_ms,
            _member(obj["member"], "member"),
            _hex32(obj["declaration"], "declaration"),
            _opt_hex32(obj["commitment"], "commitment"),
            None if obj["sponsor"] is None else _member(obj["sponsor"], "sponsor"),
        )
    if kind is StatementType.VOUCH:
        return Vouch(
            origin,
            created_ms,
            _member(obj["voucher"], "voucher"),
            _member(obj["subject"], "subject"),
            _opt_hex32(obj["commitment"], "commitment"),
        )
    if kind is StatementType.UNVOUCH:
        return Unvouch(origin, created_ms, _member(obj["voucher"], "voucher"), _member(obj["subject"], "subject"))
    if kind is StatementType.REVOKE:
        reason = obj["reason"]
        if not isinstance(reason, str) or reason not in Reason.__members__.values():
            raise Rejected(Rejection(ErrorCode.BAD_REASON, "field reason must be a known revocation reason", "7.6-a"))
        return Revoke(
            origin,
            created_ms,
            _member(obj["member"], "member"),
            Reason(reason),
            _opt_hex32(obj["evidence"], "evidence"),
        )
    if kind is StatementType.REINSTATE:
        return Reinstate(origin, created_ms, _member(obj["member"], "member"), _opt_hex32(obj["evidence"], "evidence"))
    return Rotate(origin, created_ms, _member(obj["member"], "member"), _key(obj["new_key"], "new_key"))


def _parse_policy(obj: Mapping[str, object], origin: str, created_ms: int) -> PolicyStatement:
    version = _int(obj, "version", 0, 2**31)
    founders = tuple(MemberId(k) for k in _key_list(obj["founders"], "founders", allow_empty=True))
    council = _key_list(obj["council"], "council", allow_empty=False)
    threshold = _int(obj, "threshold", 1, len(council))
    decl = _obj(obj["declarations"], "field declarations")
    if not decl or len(decl) > 16:
        raise _malformed("field declarations must hold 1 to 16 texts")
    declarations: dict[str, str] = {}
    for lang, text in decl.items():
        if not (2 <= len(lang) <= 8 and lang.isascii() and lang.isalpha() and lang.islower()):
            raise _malformed("declaration languages must be 2 to 8 lowercase letters")
        if not isinstance(text, str) or not text or len(text.encode("utf-8")) > MAX_DECLARATION_BYTES:
            raise _malformed(f"declaration text must be non-empty and at most {MAX_DECLARATION_BYTES} bytes")
        declarations[lang] = text
    params_obj = _obj(obj["params"], "field params")
    _fields(params_obj, Params.__slots__, "field params")
    values: dict[str, int | bool] = {}
    for name in Params.__slots__:
        if name == "sponsor_required":
            values[name] = _bool(params_obj, name)
        else:
            lo, hi = _PARAM_BOUNDS[name]
            values[name] = _int(params_obj, name, lo, hi)
    params = Params(**values)  # type: ignore[arg-type]
    return PolicyStatement(origin, created_ms, version, founders, council, threshold, declarations, params)


def _statement_object(statement: Statement) -> dict[str, object]:
    kind = statement_type(statement)
    obj: dict[str, object] = {"v": STATEMENT_VERSION, "type": str(kind), "origin": statement.origin}
    obj["created_ms"] = statement.created_ms

    def hx(b: bytes | None) -> str | None:
        return None if b is None else b.hex()

    match statement:
        case PolicyStatement():
            obj.update(
                version=statement.version,
                founders=[k.hex() for k in statement.founders],
                council=[k.hex() for k in statement.council],
                threshold=statement.threshold,
                declarations=dict(statement.declarations),
                params={name: getattr(statement.params, name) for name in Params.__slots__},
            )
        case Declare():
            obj.update(
                member=statement.member.hex(),
                declaration=statement.declaration.hex(),
                commitment=hx(statement.commitment),
                sponsor=hx(statement.sponsor),
            )
        case Vouch():
            obj.update(
                voucher=statement.voucher.hex(), subject=statement.subject.hex(), commitment=hx(statement.commitment)
            )
        case Unvouch():
            obj.update(voucher=statement.voucher.hex(), subject=statement.subject.hex())
        case Revoke():
            obj.update(member=statement.member.hex(), reason=str(statement.reason), evidence=hx(statement.evidence))
        case Reinstate():
            obj.update(member=statement.member.hex(), evidence=hx(statement.evidence))
        case Rotate():
            obj.update(member=statement.member.hex(), new_key=statement.new_key.hex())
    return obj


def format_statement(statement: Statement) -> bytes:
    """The canonical bytes of a statement: what every signature covers (after the domain prefix)."""
    return _encode(_statement_object(statement))


def _encode(obj: object) -> bytes:
    try:
        return canonical.encode(obj)
    except CryptoError as exc:
        raise _malformed(f"cannot encode: {exc.message}") from exc


# --- entries ---------------------------------------------------------------------------------------


def purpose(kind: StatementType) -> str:
    """The domain-separation purpose of a statement's signatures (protocol §3.3-b)."""
    return f"statement/{kind}"


def _b64(sig: bytes) -> str:
    return base64.b64encode(sig).decode("ascii")


def _unb64(value: object) -> bytes:
    if not isinstance(value, str) or len(value) != 88:
        raise _malformed("a signature must be 88 characters of base64")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _malformed("a signature must be 88 characters of base64") from None
    if len(raw) != SIGNATURE_SIZE or _b64(raw) != value:
        raise _malformed("a signature must be 88 characters of canonical base64")
    return raw


def _entry_object(entry: Entry) -> dict[str, object]:
    return {
        "signatures": [{"key": s.key.hex(), "sig": _b64(s.signature)} for s in entry.signatures],
        "statement": _statement_object(entry.statement),
    }


def format_entry(entry: Entry) -> bytes:
    """The canonical bytes of an entry, as submitted and as stored inside its leaf."""
    return entry.encoded or _encode(_entry_object(entry))


def _decode(data: bytes, limit: int) -> object:
    try:
        return canonical.decode_canonical(data, max_size=limit)
    except TooLarge as exc:
        raise Rejected(Rejection(ErrorCode.TOO_LARGE, f"an entry must be at most {limit} bytes", "4.2-a")) from exc
    except MalformedEncoding as exc:
        raise Rejected(Rejection(ErrorCode.MALFORMED_ENCODING, exc.message, "4.2-e")) from exc


def _entry_from_object(value: object) -> Entry:
    obj = _obj(value, "entry")
    _fields(obj, ("signatures", "statement"), "an entry")
    statement = parse_statement(obj["statement"])
    sigs_value = obj["signatures"]
    if not isinstance(sigs_value, list) or not 1 <= len(sigs_value) <= MAX_SIGNATURES:
        raise _malformed(f"field signatures must be a list of 1 to {MAX_SIGNATURES} signatures")
    signatures = []
    for item in sigs_value:
        sig_obj = _obj(item, "a signature")
        _fields(sig_obj, ("key", "sig"), "a signature")
        signatures.append(Signature(_key(sig_obj["key"], "key"), _unb64(sig_obj["sig"])))
    keys = [s.key for s in signatures]
    if keys != sorted(set(keys)):
        raise _malformed("signatures must be sorted by key, one per key", "4.2-c")
    return Entry(statement, tuple(signatures), format_statement(statement))


def parse_entry(data: bytes) -> Entry:
    """Parse a submitted entry. It must be canonical JSON of at most `MAX_ENTRY_SIZE` bytes (protocol §4.2).

    Raises:
        Rejected: `too_large`, `malformed_encoding`, `malformed_entry`, `bad_key`, `bad_reason`.
    """
    entry = _entry_from_object(_decode(data, MAX_ENTRY_SIZE))
    # decode_canonical proved `data` is the canonical encoding of this very entry.
    return replace(entry, encoded=bytes(data))


def entry_from_statement(statement: Statement) -> Entry:
    """An entry with no signatures yet (to be signed with `sign_entry`)."""
    return Entry(statement, (), format_statement(statement))


def sign_entry(entry: Entry, key: SigningKey) -> Entry:
    """Add (or replace) `key`'s signature, keeping signatures sorted by key. Runs on the member's device."""
    message = signing_message(purpose(entry.type), entry.statement.origin, entry.payload)
    sig = Signature(key.public_key, key.sign(message))
    others = [s for s in entry.signatures if s.key != key.public_key]
    return Entry(entry.statement, tuple(sorted([*others, sig], key=lambda s: s.key)), entry.payload)


def verify_entry(entry: Entry, origin: str) -> VerifiedEntry:
    """Check the origin and every signature of an entry (protocol §3.3, §7.1-a/b). Needs no state.

    This is the expensive, stateless half of admission; replay may run it on all cores. Which keys
    are *required* is decided by the rules engine, which accepts only a `VerifiedEntry`.

    Raises:
        Rejected: `wrong_origin`, `bad_signature`.
    """
    if entry.statement.origin != origin:
        raise Rejected(Rejection(ErrorCode.WRONG_ORIGIN, "the statement names another log's origin", "7.1-a"))
    if not entry.signatures:
        raise Rejected(Rejection(ErrorCode.INSUFFICIENT_SIGNATURES, "the entry carries no signature", "7.1-b"))
    message = signing_message(purpose(entry.type), origin, entry.payload)
    for sig in entry.signatures:
        try:
            verify_strict(sig.key, message, sig.signature)
        except BadSignature as exc:
            raise Rejected(
                Rejection(
                    ErrorCode.BAD_SIGNATURE, f"the signature by key {fingerprint(sig.key)} does not verify", "7.1-b"
                )
            ) from exc
    return VerifiedEntry(entry)


# --- leaves ----------------------------------------------------------------------------------------


def format_leaf(index: int, logged_ms: int, entry: Entry) -> bytes:
    """The leaf bytes: canonical `{"entry": ..., "index": n, "logged_ms": t}` (protocol §5.6-a).

    The keys "entry" < "index" < "logged_ms" are already in canonical order and the entry bytes are
    canonical, so the leaf is composed without re-encoding the entry (a test compares with the encoder).
    """
    if not (0 <= index <= canonical.MAX_SAFE_INTEGER and 0 <= logged_ms <= canonical.MAX_SAFE_INTEGER):
        raise _malformed("a leaf's index and log time must be integers in [0, 2^53-1]", "5.6-a")
    return b'{"entry":%b,"index":%d,"logged_ms":%d}' % (format_entry(entry), index, logged_ms)


def parse_leaf(data: bytes) -> Leaf:
    """Parse a leaf read from the log (protocol §5.6).

    Raises:
        Rejected: as `parse_entry`, and `malformed_entry` for a wrong wrapper.
    """
    obj = _obj(_decode(data, MAX_LEAF_SIZE), "leaf")
    _fields(obj, ("entry", "index", "logged_ms"), "a leaf")
    return Leaf(_int(obj, "index"), _int(obj, "logged_ms"), _entry_from_object(obj["entry"]))


def signatures_message(entry: Entry) -> bytes:
    """The exact bytes each signature of `entry` covers (for batch verification in replay)."""
    return signing_message(purpose(entry.type), entry.statement.origin, entry.payload)


def describe(keys: Sequence[bytes]) -> str:
    return ", ".join(fingerprint(k) for k in keys)
