"""The Python SDK of the registry: a typed client for the REST API and the tlog-tiles paths (protocol §9).

`RegistryClient` speaks HTTP through httpx with an injectable transport or client, returns the core's
types, and raises the core's errors: an error body `{"code", "message", "section"}` becomes the same
`Rejected(Rejection(...))` the local rules engine raises ([9.6-a]). It verifies what it can on the
client side: a receipt's leaf hash is recomputed from the submitted entry, its inclusion proof is
checked against the checkpoint's root hash, and the checkpoint's signature against the log's key when
one is known ([9.6-b]). Every answer is read with a size bound, gzip included ([9.6-c]).

Shell code (STYLE §1): it imports the core and `crypto`, never `store` and never `api`. It keeps no
state besides its HTTP connection pool. Deliberately not here: retries (a `Retry-After` hint is passed
on to the caller), caching, and the remote audit (`registry.remote_audit`).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import Final

import httpx

from crypto.checkpoint import Checkpoint, open_checkpoint, parse_checkpoint
from crypto.errors import CryptoError
from crypto.merkle import HASH_SIZE, leaf_hash
from crypto.note import MAX_NOTE_SIZE, parse_note
from crypto.notekey import NoteVerifier
from crypto.proof import verify_inclusion
from crypto.tiles import MAX_ENTRY_SIZE, TILE_WIDTH, tile_entries_path, tile_path

from .credential import Credential, parse_credential_text
from .errors import ErrorCode, RegistryError, Rejected, Rejection
from .state import MemberView, Status
from .statements import MemberId, Params, Reason, declaration_hash, format_leaf, parse_entry
from .trust import TrustPolicy, parse_trust_policy

__all__ = [
    "MAX_JSON_BYTES",
    "MemberStatus",
    "PolicyInfo",
    "RateLimited",
    "Receipt",
    "RegistryClient",
    "ServerError",
    "ServerUnreachable",
    "verify_receipt",
]

MAX_JSON_BYTES: Final = 1 << 20
"""The largest JSON answer the client reads (1 MiB); a longer one is refused as `too_large`."""
_MAX_ERROR_BYTES: Final = 64 << 10
_DEFAULT_TIMEOUT_S: Final = 30.0
_CONNECT_TIMEOUT_S: Final = 10.0
_USER_AGENT: Final = "registry-client/1"

# Fallback codes for an error status whose body is not a readable error object.
_STATUS_CODES: Final[Mapping[int, ErrorCode]] = MappingProxyType(
    {
        400: ErrorCode.MALFORMED_ENCODING,
        403: ErrorCode.BAD_SIGNATURE,
        404: ErrorCode.NOT_FOUND,
        409: ErrorCode.DUPLICATE_ENTRY,
        413: ErrorCode.TOO_LARGE,
        429: ErrorCode.RATE_LIMITED,
        503: ErrorCode.UNAVAILABLE,
    }
)


class ServerUnreachable(RegistryError):
    """The server could not be reached, timed out, or answered 503 (code `unavailable`; CLI exit 3).

    `retry_after_s` is the server's `Retry-After` hint (seconds) when it gave one.
    """

    def __init__(self, rejection: Rejection, retry_after_s: int | None = None) -> None:
        super().__init__(rejection)
        self.retry_after_s: Final = retry_after_s


class RateLimited(Rejected):
    """A 429 (`rate_limited`, protocol §7.8): the statement was refused; `retry_after_s` is the hint."""

    def __init__(self, rejection: Rejection, retry_after_s: int | None = None) -> None:
        super().__init__(rejection)
        self.retry_after_s: Final = retry_after_s


class ServerError(RegistryError):
    """The server failed (a 5xx other than 503) or gave an answer that is malformed or does not verify.

    Codes: `internal` (a 500), `malformed_encoding` / `too_large` (an unreadable or oversized answer),
    `bad_proof` / `bad_signature` (a receipt or proof that does not verify).
    """


@dataclass(frozen=True, slots=True)
class Receipt:
    """The log's answer to an accepted entry (protocol §9.2-a), verified by `verify_receipt`.

    `checkpoint` is the signed note of size `tree_size` and root `root_hash`; `inclusion_proof` proves
    `leaf_hash` at `index` in it. `checkpoint_verified` says whether the checkpoint's signature was
    checked against a known log key (the proof is always checked).
    """

    index: int
    logged_ms: int
    leaf_hash: bytes
    tree_size: int
    root_hash: bytes
    checkpoint: bytes
    inclusion_proof: tuple[bytes, ...]
    checkpoint_verified: bool


@dataclass(frozen=True, slots=True)
class MemberStatus:
    """A member's status as the server replayed it (protocol §9.3-a), at tree size `tree_size`."""

    view: MemberView
    tree_size: int


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    """The policy in force (protocol §9.3-b); every declaration text was checked against its hash."""

    origin: str
    version: int
    created_ms: int
    council: tuple[bytes, ...]
    threshold: int
    params: Params
    declarations: Mapping[str, str]
    tree_size: int


def _bad_answer(message: str, code: ErrorCode = ErrorCode.MALFORMED_ENCODING) -> ServerError:
    return ServerError(Rejection(code, message, "9.6-a"))


# --- reading JSON answers strictly --------------------------------------------------------------------


def _field(obj: Mapping[str, object], name: str) -> object:
    if name not in obj:
        raise _bad_answer(f"the server's answer lacks the field {name!r}")
    return obj[name]


def _int(obj: Mapping[str, object], name: str) -> int:
    value = _field(obj, name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _bad_answer(f"the server's field {name!r} is not a non-negative integer")
    return value


def _str(obj: Mapping[str, object], name: str) -> str:
    value = _field(obj, name)
    if not isinstance(value, str):
        raise _bad_answer(f"the server's field {name!r} is not a string")
    return value


def _bool(obj: Mapping[str, object], name: str) -> bool:
    value = _field(obj, name)
    if not isinstance(value, bool):
        raise _bad_answer(f"the server's field {name!r} is not a boolean")
    return value


def _hex32(value: object, name: str) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * HASH_SIZE or value != value.lower():
        raise _bad_answer(f"the server's field {name!r} is not 64 lowercase hex digits")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise _bad_answer(f"the server's field {name!r} is not 64 lowercase hex digits") from None


def _hash_list(obj: Mapping[str, object], name: str) -> tuple[bytes, ...]:
    value = _field(obj, name)
    if not isinstance(value, list) or len(value) > 64:
        raise _bad_answer(f"the server's field {name!r} is not a list of at most 64 hashes")
    return tuple(_hex32(item, name) for item in value)


def _object(body: bytes) -> dict[str, object]:
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _bad_answer("the server's answer is not JSON") from None
    if not isinstance(value, dict):
        raise _bad_answer("the server's answer is not a JSON object")
    return value


def _rejection_from(body: bytes, status: int) -> Rejection:
    """The Rejection an error body carries; an unknown code becomes `internal` with the message kept."""
    fallback = _STATUS_CODES.get(status, ErrorCode.INTERNAL)
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        value = None
    if not isinstance(value, dict) or not isinstance(value.get("code"), str):
        return Rejection(fallback, f"the server answered {status} without an error body", "")
    return _rejection_of(value, fallback)


def _rejection_of(value: Mapping[str, object], fallback: ErrorCode) -> Rejection:
    raw_code = value.get("code")
    if not isinstance(raw_code, str):
        return Rejection(fallback, "the server gave no error code", "")
    message = value.get("message")
    section = value.get("section")
    message = message if isinstance(message, str) else ""
    section = section if isinstance(section, str) else ""
    try:
        code = ErrorCode(raw_code)
    except ValueError:
        # protocol §9.6-a: a code this client does not know is kept in the message, not invented.
        return Rejection(ErrorCode.INTERNAL, f"{raw_code[:64]}: {message}"[:500], section)
    return Rejection(code, message, section)


def _retry_after(headers: httpx.Headers) -> int | None:
    value = headers.get("retry-after", "").strip()
    return int(value) if value.isdigit() and len(value) <= 9 else None


def _raise_for_error(status: int, headers: httpx.Headers, body: bytes) -> None:
    """Turn an error status into the core's error (protocol §9.6-a); return on 2xx."""
    if 200 <= status < 300:
        return
    rejection = _rejection_from(body, status)
    retry = _retry_after(headers)
    if status == 503:
        raise ServerUnreachable(rejection, retry)
    if status == 429:
        raise RateLimited(rejection, retry)
    if 400 <= status < 500:
        raise Rejected(rejection)
    if status >= 500:
        raise ServerError(rejection)
    raise _bad_answer(f"the server answered with the unexpected status {status}")


# --- receipts -------------------------------------------------------------------------------------


def _crypto_code(exc: CryptoError) -> ErrorCode:
    try:
        return ErrorCode(exc.code)
    except ValueError:
        return ErrorCode.BAD_PROOF


def _read_checkpoint(note: bytes, log_verifier: NoteVerifier | None) -> Checkpoint:
    if log_verifier is not None:
        cp, _ = open_checkpoint(note, log_verifier)
        return cp
    return parse_checkpoint(parse_note(note).text)


def verify_receipt(receipt: Receipt, entry_bytes: bytes, log_verifier: NoteVerifier | None = None) -> Checkpoint:
    """Check that `receipt` proves `entry_bytes` logged (protocol §9.2-a, §9.2-b, §9.6-b).

    Steps:
    1. Parse the checkpoint note and, when `log_verifier` is given, verify the log's signature on it.
    2. Check that the checkpoint's size and root hash are the receipt's, and that index < size.
    3. Recompute the leaf, `format_leaf(index, logged_ms, entry)`, and its leaf hash; compare.
    4. Verify the inclusion proof of that leaf hash at `index` against the checkpoint's root hash.

    Returns:
        The checkpoint.

    Raises:
        ServerError: `bad_signature` (step 1), `malformed_encoding` (step 1, an unreadable note), or
            `bad_proof` (steps 2 to 4).
        Rejected: `entry_bytes` is not a canonical entry (as `parse_entry`).
    """
    # Step 1.
    try:
        cp = _read_checkpoint(receipt.checkpoint, log_verifier)
    except CryptoError as exc:
        code = _crypto_code(exc)
        raise ServerError(Rejection(code, f"the receipt's checkpoint does not verify: {exc.message}", "9.6-b")) from exc
    # Step 2.
    if cp.size != receipt.tree_size or cp.root_hash != receipt.root_hash or receipt.index >= cp.size:
        raise _bad_answer("the receipt's tree size or index does not match its checkpoint", ErrorCode.BAD_PROOF)
    # Step 3.
    leaf = format_leaf(receipt.index, receipt.logged_ms, parse_entry(entry_bytes))
    if leaf_hash(leaf) != receipt.leaf_hash:
        raise _bad_answer("the receipt's leaf hash is not the hash of the submitted entry", ErrorCode.BAD_PROOF)
    # Step 4.
    try:
        verify_inclusion(receipt.leaf_hash, receipt.index, cp.size, receipt.inclusion_proof, cp.root_hash)
    except CryptoError as exc:
        raise _bad_answer(f"the receipt's inclusion proof does not verify: {exc.message}", ErrorCode.BAD_PROOF) from exc
    return cp


def _receipt_from(obj: Mapping[str, object], log_verifier: NoteVerifier | None) -> Receipt:
    note = _str(obj, "checkpoint").encode("utf-8")
    try:
        cp = parse_checkpoint(parse_note(note).text)
    except CryptoError as exc:
        raise _bad_answer(f"the receipt's checkpoint is malformed: {exc.message}") from exc
    return Receipt(
        index=_int(obj, "index"),
        logged_ms=_int(obj, "logged_ms"),
        leaf_hash=_hex32(_field(obj, "leaf_hash"), "leaf_hash"),
        tree_size=_int(obj, "tree_size"),
        root_hash=cp.root_hash,
        checkpoint=note,
        inclusion_proof=_hash_list(obj, "inclusion_proof"),
        checkpoint_verified=log_verifier is not None,
    )


def _member_from(obj: Mapping[str, object]) -> MemberStatus:
    try:
        status = Status(_str(obj, "status"))
        reason_value = _field(obj, "revocation_reason")
        reason = None if reason_value is None else Reason(str(reason_value))
    except ValueError:
        raise _bad_answer("the server's member status or revocation reason is unknown") from None
    commitment = _field(obj, "commitment")
    history = _field(obj, "history")
    if not isinstance(history, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in history):
        raise _bad_answer("the server's field 'history' is not a list of indexes")
    view = MemberView(
        member_id=MemberId(_hex32(_field(obj, "member"), "member")),
        key=_hex32(_field(obj, "key"), "key"),
        status=status,
        valid_vouches=_int(obj, "valid_vouches"),
        founder=_bool(obj, "founder"),
        commitment=None if commitment is None else _hex32(commitment, "commitment"),
        revocation_reason=reason,
        strikes=_int(obj, "strikes"),
        history=tuple(history),
    )
    return MemberStatus(view, _int(obj, "tree_size"))


def _policy_from(obj: Mapping[str, object]) -> PolicyInfo:
    params_obj = _field(obj, "params")
    declarations_obj = _field(obj, "declarations")
    council = _field(obj, "council")
    if not isinstance(params_obj, dict) or not isinstance(declarations_obj, dict) or not isinstance(council, list):
        raise _bad_answer("the server's policy lacks its parameters, declarations or council")

    def number(name: str) -> int:
        return _int(params_obj, name)

    params = Params(
        vouch_threshold=number("vouch_threshold"),
        voucher_min_age_days=number("voucher_min_age_days"),
        max_pending_vouchees=number("max_pending_vouchees"),
        vouch_quota=number("vouch_quota"),
        strike_limit=number("strike_limit"),
        sponsor_required=_bool(params_obj, "sponsor_required"),
        max_pending_members=number("max_pending_members"),
        rate_limit_per_day=number("rate_limit_per_day"),
    )
    declarations: dict[str, str] = {}
    for lang, item in sorted(declarations_obj.items()):
        if not isinstance(item, dict):
            raise _bad_answer("the server's declaration is not an object")
        text = _str(item, "text")
        # protocol §9.3-b: the hash a declare statement names must be the hash of the text shown.
        if declaration_hash(text) != _hex32(_field(item, "sha256"), "sha256"):
            raise _bad_answer(f"the server's {lang} declaration text does not match its hash", ErrorCode.BAD_PROOF)
        declarations[str(lang)] = text
    return PolicyInfo(
        origin=_str(obj, "origin"),
        version=_int(obj, "version"),
        created_ms=_int(obj, "created_ms"),
        council=tuple(_hex32(k, "council") for k in council),
        threshold=_int(obj, "threshold"),
        params=params,
        declarations=MappingProxyType(declarations),
        tree_size=_int(obj, "tree_size"),
    )


# --- the client ----------------------------------------------------------------------------------------


class _Bounded:
    """Reads a response body, decoding gzip itself, and refuses more than `limit` decoded bytes."""

    __slots__ = ("_decoder", "_limit", "_out")

    def __init__(self, encoding: str, limit: int) -> None:
        encoding = encoding.strip().lower()
        if encoding not in ("", "identity", "gzip"):
            raise _bad_answer(f"the server used the content encoding {encoding[:20]!r}, which was not asked for")
        self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding == "gzip" else None
        self._limit = limit
        self._out = bytearray()

    def feed(self, chunk: bytes) -> None:
        room = self._limit + 1 - len(self._out)
        if self._decoder is None:
            self._out += chunk[:room]
        else:
            try:
                # max_length bounds what one compressed chunk can expand to (no decompression bomb).
                self._out += self._decoder.decompress(chunk, room)
            except zlib.error:
                raise _bad_answer("the server's gzip body does not decode") from None
            if self._decoder.unconsumed_tail:
                self._out += b"\0"  # more output is pending: over the limit
        if len(self._out) > self._limit:
            raise _bad_answer(f"the server's answer is longer than {self._limit} bytes", ErrorCode.TOO_LARGE)

    def finish(self) -> bytes:
        if self._decoder is not None:
            if not self._decoder.eof:
                raise _bad_answer("the server's gzip body is truncated")
            if self._decoder.unused_data:
                raise _bad_answer("the server's gzip body has trailing data")
        return bytes(self._out)


class RegistryClient:
    """A typed client of one registry server (protocol §9).

    Args:
        base_url: the server's base URL, e.g. `http://127.0.0.1:8000` (a path prefix is allowed).
        client: an httpx.Client to send requests with (e.g. one with a test transport); the caller
            keeps ownership and closes it.
        transport: an httpx transport for a client this object creates (ignored with `client`).
        timeout_s: the read/write/pool timeout in seconds (connecting times out after 10 s at most).
        log_verifier: the log's key, when known: receipts' checkpoints are then signature-checked.
        event_hooks: httpx event hooks for a client this object creates (e.g. to count requests).

    Raises:
        ServerError: `malformed_encoding` when base_url is not an http(s) URL.

    Every method raises `ServerUnreachable` when the server cannot be reached, times out or answers
    503; `Rejected` (with the server's code) for a 4xx; `ServerError` for a 500 or an answer that is
    malformed, too large, or does not verify.
    """

    def __init__(
        self,
        base_url: str,
        *,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout_s: float = _DEFAULT_TIMEOUT_S,
        log_verifier: NoteVerifier | None = None,
        event_hooks: Mapping[str, list[Callable[..., object]]] | None = None,
    ) -> None:
        try:
            url = httpx.URL(base_url)
        except (httpx.InvalidURL, TypeError):
            raise _bad_answer("the server URL is not a valid URL") from None
        if url.scheme not in ("http", "https") or not url.host or url.query or url.fragment:
            raise _bad_answer("the server URL must be http:// or https:// with a host, and no query")
        self._base = str(url).rstrip("/") + "/"
        self._log_verifier = log_verifier
        self._owned = client is None
        if client is None:
            client = httpx.Client(
                transport=transport,
                timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, _CONNECT_TIMEOUT_S)),
                follow_redirects=False,
                trust_env=False,
                event_hooks={name: list(hooks) for name, hooks in (event_hooks or {}).items()},
            )
        self._http = client

    @property
    def base_url(self) -> str:
        return self._base

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owned:
            self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- transport ---

    def _request(
        self,
        method: str,
        path: str,
        limit: int,
        *,
        params: Mapping[str, int] | None = None,
        content: bytes | None = None,
        accept: str = "application/json",
    ) -> bytes:
        headers = {"Accept": accept, "Accept-Encoding": "gzip", "User-Agent": _USER_AGENT}
        if content is not None:
            headers["Content-Type"] = "application/json"
        try:
            with self._http.stream(
                method, self._base + path.lstrip("/"), params=params, content=content, headers=headers
            ) as response:
                ok = 200 <= response.status_code < 300
                reader = _Bounded(response.headers.get("content-encoding", ""), limit if ok else _MAX_ERROR_BYTES)
                for chunk in response.iter_raw():
                    try:
                        reader.feed(chunk)
                    except ServerError:
                        if ok:
                            raise
                        break  # an oversized error body: keep the status, drop the body
                try:
                    body = reader.finish()
                except ServerError:
                    if ok:
                        raise
                    body = b""
                _raise_for_error(response.status_code, response.headers, body)
                return body
        except httpx.TimeoutException as exc:
            raise ServerUnreachable(Rejection(ErrorCode.UNAVAILABLE, "the server did not answer in time", "")) from exc
        except httpx.TransportError as exc:
            # No URL or address in the message: the CLI prints it, and it may end up in a shared log.
            raise ServerUnreachable(
                Rejection(ErrorCode.UNAVAILABLE, f"cannot reach the server ({type(exc).__name__})", "")
            ) from exc

    def _json(
        self, method: str, path: str, *, params: Mapping[str, int] | None = None, content: bytes | None = None
    ) -> dict[str, object]:
        return _object(self._request(method, path, MAX_JSON_BYTES, params=params, content=content))

    # --- §9.2 statements ---

    def submit(self, entry_bytes: bytes) -> Receipt:
        """POST /v1/entries: submit a signed entry and return its verified receipt (protocol §9.2-a).

        Raises:
            Rejected: the server refused the entry (its code, e.g. `duplicate_entry`, `member_revoked`),
                or `entry_bytes` is not a canonical entry (checked after the answer, for the receipt).
            RateLimited: a 429 (`rate_limited`), with the server's Retry-After hint.
            ServerUnreachable, ServerError: as the class says; `bad_proof` / `bad_signature` when the
                receipt does not verify (`verify_receipt`).
        """
        obj = self._json("POST", "v1/entries", content=bytes(entry_bytes))
        receipt = _receipt_from(obj, self._log_verifier)
        verify_receipt(receipt, entry_bytes, self._log_verifier)
        return receipt

    def validate(self, entry_bytes: bytes) -> Rejection | None:
        """POST /v1/validate: would the entry be accepted now? None if so, else the rejection (§9.2-e)."""
        obj = self._json("POST", "v1/validate", content=bytes(entry_bytes))
        if _bool(obj, "ok"):
            return None
        return _rejection_of(obj, ErrorCode.INTERNAL)

    # --- §9.3 state and proofs ---

    def member(self, member_id: bytes) -> MemberStatus:
        """GET /v1/members/{id}: a member's status by member id or current or retired key (§9.3-a).

        Raises:
            Rejected: `unknown_member` (404), `malformed_encoding` (an id that is not 32 bytes).
        """
        if len(member_id) != HASH_SIZE:
            raise Rejected(Rejection(ErrorCode.MALFORMED_ENCODING, "a member id or key is 32 bytes", "9.3-a"))
        return _member_from(self._json("GET", f"v1/members/{bytes(member_id).hex()}"))

    def credential(self, member_id: bytes) -> Credential:
        """GET /v1/credential/{id}: a member's credential (§9.7-i), parsed but not verified: the caller
        checks it with `registry.verify` against the trust policy it holds.

        Raises:
            Rejected: `unknown_member` (404), `malformed_encoding` (an id that is not 32 bytes, or a
                credential that does not parse).
            ServerError: the answer names another member than asked.
        """
        if len(member_id) != HASH_SIZE:
            raise Rejected(Rejection(ErrorCode.MALFORMED_ENCODING, "a member id or key is 32 bytes", "9.7-i"))
        obj = self._json("GET", f"v1/credential/{bytes(member_id).hex()}")
        credential = parse_credential_text(_str(obj, "credential").encode("utf-8"))
        member = credential.member_id
        if _hex32(_field(obj, "member"), "member") != member or _int(obj, "tree_size") != credential.checkpoint.size:
            raise _bad_answer("the credential's fields disagree with the answer")
        return credential

    def trust_policy(self) -> TrustPolicy:
        """GET /v1/trust: the trust policy the registry publishes (§9.7-j). Compare it out of band."""
        return parse_trust_policy(_str(self._json("GET", "v1/trust"), "policy"))

    def policy(self) -> PolicyInfo:
        """GET /v1/policy: the policy in force, with its declaration texts checked against their hashes."""
        return _policy_from(self._json("GET", "v1/policy"))

    def inclusion_proof(self, index: int, tree_size: int) -> tuple[bytes, ...]:
        """GET /v1/proof/inclusion: the proof of §5.2-a (not verified here: the caller has the root)."""
        obj = self._json("GET", "v1/proof/inclusion", params={"index": index, "size": tree_size})
        if _int(obj, "index") != index or _int(obj, "tree_size") != tree_size:
            raise _bad_answer("the server answered a proof for another index or size")
        return _hash_list(obj, "inclusion_proof")

    def consistency_proof(self, old_size: int, new_size: int) -> tuple[bytes, ...]:
        """GET /v1/proof/consistency: the proof of §5.2-c (not verified here: the caller has the roots)."""
        obj = self._json("GET", "v1/proof/consistency", params={"old": old_size, "new": new_size})
        if _int(obj, "old") != old_size or _int(obj, "new") != new_size:
            raise _bad_answer("the server answered a proof for other sizes")
        return _hash_list(obj, "consistency_proof")

    def health(self) -> int:
        """GET /healthz: the server's tree size while it can sequence."""
        return _int(self._json("GET", "healthz"), "tree_size")

    # --- §9.4 checkpoint and tiles ---

    def checkpoint(self) -> bytes:
        """GET /checkpoint: the latest signed checkpoint note, unverified (at most MAX_NOTE_SIZE bytes)."""
        return self._request("GET", "checkpoint", MAX_NOTE_SIZE, accept="text/plain")

    def tile(self, level: int, index: int, width: int = TILE_WIDTH) -> bytes:
        """GET /tile/<L>/<N>[.p/<W>]: a hash tile of exactly width * 32 bytes, unverified (§5.3-c).

        Raises:
            ServerError: `malformed_encoding` for bad coordinates or a tile of the wrong length.
        """
        try:
            path = tile_path(level, index, width)
        except CryptoError as exc:
            raise _bad_answer(exc.message) from exc
        data = self._request("GET", path, width * HASH_SIZE, accept="application/octet-stream")
        if len(data) != width * HASH_SIZE:
            raise _bad_answer(f"the server's tile {path} is {len(data)} bytes, not {width * HASH_SIZE}")
        return data

    def entry_bundle(self, index: int, width: int = TILE_WIDTH) -> bytes:
        """GET /tile/entries/<N>[.p/<W>]: an entry bundle, unverified and unparsed (§5.3-e).

        At most width * (2 + 65,535) bytes are read.
        """
        try:
            path = tile_entries_path(index, width)
        except CryptoError as exc:
            raise _bad_answer(exc.message) from exc
        return self._request("GET", path, width * (2 + MAX_ENTRY_SIZE), accept="application/octet-stream")
