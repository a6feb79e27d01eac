"""Evidence that a log signed two inconsistent checkpoints: the file format and its check
(protocol §6.4).

An evidence file holds the log's verifier key, two checkpoints signed by that key (the smaller size
first) and a *consistency path* between them. It proves misbehaviour, to anyone, offline, when

- the two checkpoints have the same size and different root hashes; or
- the older size is 0 and the older root hash is not the empty tree's; or
- the path, folded by RFC 9162 §2.1.4.2 (step 2 already applied: when the older size is a power of two
  the path starts with the newer tree's hash of the first `older size` leaves), yields exactly the
  newer root hash but an older root hash different from the older checkpoint's. Since every hash in
  the path is then bound to the newer root (SHA-256 collision resistance), the newer tree's first
  `older size` leaves differ from the older tree's: the two trees are not one append-only history.

A failing consistency proof alone proves nothing (anyone can send a wrong proof); this form does.

Pure core: bytes and text in, a verdict out. No I/O, no clock (`registry evidence check` reads files).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from crypto.canonical import decode_canonical, encode
from crypto.checkpoint import Checkpoint, open_checkpoint
from crypto.errors import BadProof, CryptoError
from crypto.merkle import EMPTY_ROOT, MerkleTree
from crypto.note import MAX_NOTE_SIZE
from crypto.notekey import SIG_TYPE_ED25519, NoteVerifier, parse_vkey
from crypto.proof import consistency_roots

from .errors import ErrorCode, RegistryError, Rejection

__all__ = [
    "EVIDENCE_FORMAT",
    "MAX_EVIDENCE_SIZE",
    "MAX_PATH_HASHES",
    "Evidence",
    "build_evidence",
    "check_evidence",
    "consistency_path",
    "evidence_from_tree",
    "format_evidence",
    "parse_evidence",
    "roots_from_consistency_path",
    "verify_evidence",
]

EVIDENCE_FORMAT: Final = "antiwar-registry/evidence/v1"
"""protocol §6.4-b: the `format` member of every evidence file."""
MAX_PATH_HASHES: Final = 64
"""protocol §6.4-b: a consistency path between 64-bit sizes has at most 63 hashes, plus the prepended one."""
MAX_EVIDENCE_SIZE: Final = 2 * 2 * MAX_NOTE_SIZE + 4096
"""protocol §6.4-b: the largest evidence file (two notes, each escaped at most twice its size, and a path)."""

_HASH_SIZE: Final = 32
_FIELDS: Final = frozenset({"checkpoints", "format", "log_vkey", "path"})
_CRYPTO_CODES: Final = {
    "bad_key": ErrorCode.BAD_KEY,
    "bad_signature": ErrorCode.BAD_SIGNATURE,
    "too_large": ErrorCode.TOO_LARGE,
}


def _malformed(message: str) -> RegistryError:
    return RegistryError(Rejection(ErrorCode.MALFORMED_ENCODING, message, "6.4-b"))


@dataclass(frozen=True, slots=True)
class Evidence:
    """Two checkpoints of one log key, the smaller size first, and the consistency path between them.

    Nothing is verified on construction beyond the shape (protocol §6.4-b); `check_evidence` decides.

    Raises (on construction):
        RegistryError (`malformed_encoding`): an empty note, more than 64 path hashes or a hash that
            is not 32 bytes.
    """

    log_vkey: str
    older: bytes
    newer: bytes
    path: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.older or not self.newer:
            raise _malformed("an evidence file holds two checkpoint notes")
        if len(self.path) > MAX_PATH_HASHES:
            raise _malformed(f"a consistency path has at most {MAX_PATH_HASHES} hashes")
        if any(len(h) != _HASH_SIZE for h in self.path):
            raise _malformed("every consistency path hash must be 32 bytes")


def consistency_path(old_size: int, proof: Sequence[bytes], old_subtree: bytes) -> tuple[bytes, ...]:
    """The consistency path of protocol §6.4-c from an RFC 6962 consistency proof.

    Args:
        old_size: the older tree size.
        proof: PROOF(old_size, D[0:new_size]) as a log serves it.
        old_subtree: the newer tree's hash of its first `old_size` leaves; used only when `old_size` is
            a power of two, where the proof omits it. (A party that only has the older checkpoint can
            pass its root hash; the path then cannot prove a fork at such a size.)
    """
    if old_size > 0 and old_size & (old_size - 1) == 0:
        return (old_subtree, *proof)
    return tuple(proof)


def roots_from_consistency_path(old_size: int, new_size: int, path: Sequence[bytes]) -> tuple[bytes, bytes] | None:
    """Fold a consistency path into (older root, newer root), RFC 9162 §2.1.4.2 steps 3 to 7
    (`crypto.proof.consistency_roots`, which `verify_consistency` runs too).

    Requires 0 < old_size < new_size. Step 2 (prepending the old root for a power-of-two old size) is
    the caller's: see `consistency_path`.

    Returns:
        The two roots, or None when the path is empty or has the wrong length for the two sizes.
    """
    if not 0 < old_size < new_size or not path:
        return None
    try:
        return consistency_roots(old_size, new_size, path)
    except BadProof:
        return None


def build_evidence(log_vkey: str, first: bytes, second: bytes, path: Sequence[bytes]) -> Evidence:
    """Put two checkpoint notes in size order, with the consistency path from the smaller size.

    Both notes must open under `log_vkey`; `path` must be from the smaller size to the larger.

    Raises:
        RegistryError (`bad_key`, `bad_signature`, `malformed_encoding`): a note does not open as a
            checkpoint of that key.
    """
    verifier = _log_verifier(log_vkey)
    a, b = _open(first, verifier), _open(second, verifier)
    if b.size < a.size:
        first, second = second, first
    return Evidence(log_vkey=log_vkey, older=first, newer=second, path=tuple(path))


def evidence_from_tree(log_vkey: str, older: bytes, newer: bytes, newer_tree: MerkleTree) -> Evidence:
    """Evidence between two checkpoint notes (the smaller size first), with the consistency path
    computed from the newer tree's own nodes (an auditor's tiles, verified against its root, §6.4-a):
    when the trees differ, such a path proves it (§6.4-c).

    Requires `newer_tree` to have at least the newer checkpoint's size.

    Raises:
        RegistryError (`bad_key`, `bad_signature`, `malformed_encoding`): a note does not open under
            the key; (`bad_proof`): the tree lacks a node the path needs.
    """
    verifier = _log_verifier(log_vkey)
    old, new = _open(older, verifier), _open(newer, verifier)
    if old.size > new.size:
        raise _malformed("the checkpoints of an evidence file come in size order, the smaller first")
    path: tuple[bytes, ...] = ()
    if 0 < old.size < new.size:
        try:
            proof = newer_tree.consistency_proof(old.size, new.size)
            path = consistency_path(old.size, proof, newer_tree.root(old.size))
        except CryptoError as exc:
            raise _not_proven(f"the newer tree lacks a node of the path: {exc.message}") from None
    return Evidence(log_vkey=log_vkey, older=older, newer=newer, path=path)


def check_evidence(evidence: Evidence) -> Rejection | None:
    """Decide whether an evidence file proves that its log signed inconsistent checkpoints (§6.4-c).

    Steps:
    1. The log key is a type 0x01 verifier key.
    2. Both notes open as checkpoints under it (protocol §5.5-f), the older one first by size.
    3. Same size: the evidence holds when the root hashes differ.
    4. Older size 0: it holds when the older root is not the empty tree's.
    5. Otherwise the path must fold to exactly the newer root hash; it holds when it folds to an
       older root hash different from the older checkpoint's.

    Returns:
        None when the evidence holds; otherwise the reason it proves nothing (`bad_key`,
        `bad_signature`, `malformed_encoding` for a broken file; `bad_proof` when it is not conclusive
        or the checkpoints are consistent).
    """
    try:
        verify_evidence(evidence)
    except RegistryError as exc:
        return exc.rejection
    return None


def verify_evidence(evidence: Evidence) -> None:
    """Like `check_evidence`, but raise the reason when the evidence does not hold.

    Raises:
        RegistryError (`bad_key`, `bad_signature`, `malformed_encoding`, `bad_proof`).
    """
    # Step 1.
    verifier = _log_verifier(evidence.log_vkey)
    # Step 2.
    older, newer = _open(evidence.older, verifier), _open(evidence.newer, verifier)
    if older.size > newer.size:
        raise _malformed("the checkpoints of an evidence file come in size order, the smaller first")
    # Step 3.
    if older.size == newer.size:
        if evidence.path:
            raise _malformed("the path between two checkpoints of the same size is empty")
        if older.root_hash == newer.root_hash:
            raise _not_proven("the two checkpoints are the same tree")
        return
    # Step 4.
    if older.size == 0:
        if older.root_hash == EMPTY_ROOT:
            raise _not_proven("every tree is consistent with the empty tree")
        return
    # Step 5.
    roots = roots_from_consistency_path(older.size, newer.size, evidence.path)
    if roots is None:
        raise _not_proven(f"the path has the wrong length for sizes {older.size} and {newer.size}")
    old_root, new_root = roots
    if new_root != newer.root_hash:
        raise _not_proven("the path does not fold to the newer root hash, so it proves nothing")
    if old_root == older.root_hash:
        raise _not_proven("the two checkpoints are consistent")


def format_evidence(evidence: Evidence) -> bytes:
    """Encode an evidence file: canonical JSON (protocol §4.1, §6.4-b)."""
    document = {
        "checkpoints": [evidence.older.decode("utf-8"), evidence.newer.decode("utf-8")],
        "format": EVIDENCE_FORMAT,
        "log_vkey": evidence.log_vkey,
        "path": [h.hex() for h in evidence.path],
    }
    return encode(document)


def parse_evidence(data: bytes) -> Evidence:
    """Parse an evidence file strictly (protocol §6.4-b). Verifies nothing.

    Returns:
        The evidence; `format_evidence` of it returns `data` byte for byte.

    Raises:
        RegistryError (`too_large`): over `MAX_EVIDENCE_SIZE` bytes.
        RegistryError (`malformed_encoding`): not canonical JSON of exactly the members `checkpoints`
            (two strings), `format`, `log_vkey` (a string) and `path` (at most 64 lowercase hex hashes).
    """
    if len(data) > MAX_EVIDENCE_SIZE:
        raise RegistryError(Rejection(ErrorCode.TOO_LARGE, f"an evidence file is at most {MAX_EVIDENCE_SIZE} bytes",
                                      "6.4-b"))
    try:
        document = decode_canonical(data, max_size=MAX_EVIDENCE_SIZE)
    except CryptoError as exc:
        raise _malformed(f"an evidence file is canonical JSON: {exc.message}") from None
    if not isinstance(document, dict) or frozenset(document) != _FIELDS:
        raise _malformed("an evidence file is an object of checkpoints, format, log_vkey and path")
    if document["format"] != EVIDENCE_FORMAT:
        raise _malformed(f"an evidence file's format is {EVIDENCE_FORMAT}")
    checkpoints, vkey, path = document["checkpoints"], document["log_vkey"], document["path"]
    if not isinstance(checkpoints, list) or len(checkpoints) != 2 or not all(isinstance(c, str) for c in checkpoints):
        raise _malformed("checkpoints is a list of two signed notes")
    if not isinstance(vkey, str):
        raise _malformed("log_vkey is a verifier key string")
    if not isinstance(path, list) or len(path) > MAX_PATH_HASHES:
        raise _malformed(f"path is a list of at most {MAX_PATH_HASHES} hashes")
    hashes: list[bytes] = []
    for item in path:
        if not isinstance(item, str) or len(item) != 2 * _HASH_SIZE or item.lower() != item:
            raise _malformed("a path hash is 64 lowercase hexadecimal digits")
        try:
            hashes.append(bytes.fromhex(item))
        except ValueError:
            raise _malformed("a path hash is 64 lowercase hexadecimal digits") from None
    try:
        older, newer = (str(c).encode("utf-8") for c in checkpoints)
    except UnicodeError:
        raise _malformed("a checkpoint is not valid UTF-8") from None
    return Evidence(log_vkey=vkey, older=older, newer=newer, path=tuple(hashes))


def _log_verifier(vkey: str) -> NoteVerifier:
    try:
        verifier = parse_vkey(vkey)
    except CryptoError as exc:
        raise RegistryError(Rejection(ErrorCode.BAD_KEY, f"the evidence's log key: {exc.message}", "6.4-c")) from None
    if verifier.sig_type != SIG_TYPE_ED25519:
        raise RegistryError(Rejection(ErrorCode.BAD_KEY, "the evidence's log key is not a type 0x01 log key", "6.4-c"))
    return verifier


def _open(note: bytes, verifier: NoteVerifier) -> Checkpoint:
    try:
        cp, _ = open_checkpoint(note, verifier)
    except CryptoError as exc:
        code = _CRYPTO_CODES.get(exc.code, ErrorCode.MALFORMED_ENCODING)
        raise RegistryError(Rejection(code, f"a checkpoint of the evidence: {exc.message}", "6.4-c")) from None
    return cp


def _not_proven(message: str) -> RegistryError:
    return RegistryError(Rejection(ErrorCode.BAD_PROOF, message, "6.4-c"))
