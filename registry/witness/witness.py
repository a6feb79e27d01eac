"""A C2SP tlog-witness (tag v1.0.0, with HEAD's 422 for a second root at the same size): check an
add-checkpoint request against the witness's state, advance the state, cosign (protocol §6.2).

`Witness.add_checkpoint` runs the checks of §6.2-c in the order the spec lists them, each raising
the refusal the HTTP layer turns into a status:

1. parse the body (400), then the checkpoint note (400);
2. the origin (the note's first line, used only to look up keys) is a configured log (404);
3. the log's signature verifies under the configured key(s) for that origin (403);
4. the note text is a checkpoint (400), and the old size is not above its size (400);
5. the old size equals the size of the latest checkpoint cosigned for the origin, 0 if none (409);
6. the proof shows the checkpoint consistent with that latest one; equal sizes need equal roots (422);
7. compare-and-swap the state to the checkpoint (lost race: 409), durably, and only then
8. cosign with the witness's key at the injected clock's time (200).

A refused request whose checkpoint verifies under the log's key but is inconsistent with the stored
one is kept as an evidence file (protocol §6.2-g, §6.4), when an evidence directory is configured.

Shell code: state file, evidence files, injected clock. It does not speak HTTP (`api/witness.py`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Final

from crypto.checkpoint import Checkpoint, parse_checkpoint
from crypto.cosignature import cosign, cosigner_vkey
from crypto.errors import CryptoError
from crypto.keys import SigningKey
from crypto.merkle import EMPTY_ROOT
from crypto.note import (
    Note,
    NoteSignature,
    format_note,
    parse_note,
)
from crypto.notekey import SIG_TYPE_ED25519, NoteVerifier, format_vkey, verify_note
from crypto.proof import verify_consistency

from ..errors import ErrorCode, RegistryError
from ..evidence import build_evidence, consistency_path
from ..evidence_io import write_evidence_file
from .protocol import (
    AddCheckpoint,
    BadLogSignature,
    InconsistentCheckpoint,
    MalformedRequest,
    OldSizeMismatch,
    UnknownLog,
    parse_add_checkpoint,
)
from .state import WitnessedHead, WitnessState

__all__ = ["SecondsClock", "Witness", "log_keys_by_origin"]

SecondsClock = Callable[[], int]
"""Returns the current POSIX time in whole seconds (the unit of cosignature timestamps). Injected."""

def log_keys_by_origin(vkeys: Sequence[NoteVerifier]) -> Mapping[str, tuple[NoteVerifier, ...]]:
    """Group the configured log keys by origin, which is their key name (protocol §5.5-e, §6.2-b).

    Raises:
        MalformedRequest (`bad_key`): a key is a cosigner (type 0x04) key, not a log key.
    """
    grouped: dict[str, list[NoteVerifier]] = {}
    for v in vkeys:
        if v.sig_type != SIG_TYPE_ED25519:
            raise MalformedRequest(f"the log key {v.name} is not a type 0x01 log key", ErrorCode.BAD_KEY)
        grouped.setdefault(v.name, []).append(v)
    return MappingProxyType({origin: tuple(keys) for origin, keys in sorted(grouped.items())})


@dataclass(frozen=True, slots=True)
class _Checked:
    request: AddCheckpoint
    note: Note
    checkpoint: Checkpoint
    log_vkey: str
    log_note: bytes
    """The checkpoint note with the log's own signature lines only: what is stored and kept as evidence."""


class Witness:
    """One witness: its name and key, the logs it witnesses, its state file and its clock.

    The state file is the only mutable state; `WitnessState` owns it and serializes writes.
    """

    __slots__ = ("_clock", "_evidence_dir", "_key", "_logs", "name", "state")

    def __init__(
        self,
        name: str,
        key: SigningKey,
        logs: Sequence[NoteVerifier],
        state: WitnessState,
        clock: SecondsClock,
        *,
        evidence_dir: Path | None = None,
    ) -> None:
        """Requires `name` a valid key name (protocol §6.1-a), used by no other witness with this key.

        Raises:
            MalformedRequest (`bad_key`): a log key is not a type 0x01 key.
        """
        self.name: Final = name
        self._key: Final = key
        self._logs: Final = log_keys_by_origin(logs)
        self.state: Final = state
        self._clock: Final = clock
        self._evidence_dir: Final = evidence_dir

    @property
    def vkey(self) -> str:
        """The witness's type 0x04 verifier key (protocol §6.1-a)."""
        return cosigner_vkey(self.name, self._key.public_key)

    @property
    def origins(self) -> tuple[str, ...]:
        """The origins of the logs this witness cosigns for, sorted."""
        return tuple(self._logs)

    def add_checkpoint(self, body: bytes) -> tuple[NoteSignature, ...]:
        """Handle one add-checkpoint request body (protocol §6.2-c, steps in the module docstring).

        Returns:
            The cosignature line(s) to answer with (200); the state holds the checkpoint durably.

        Raises:
            MalformedRequest (`malformed_encoding`, `too_large`): 400.
            UnknownLog (`not_found`): 404.
            BadLogSignature (`bad_signature`): 403.
            OldSizeMismatch: 409, with the size to send in `latest_size`.
            InconsistentCheckpoint (`bad_proof`): 422.
            RegistryError (`unavailable`): the state file cannot be read or written.
        """
        checked = self._check_request(body)
        request, cp = checked.request, checked.checkpoint
        # Step 5.
        latest = self.state.latest(cp.origin)
        latest_size = 0 if latest is None else latest.size
        if request.old_size != latest_size:
            raise OldSizeMismatch(latest_size, request.old_size)
        # Step 6.
        self._check_consistency(checked, latest)
        # Step 7: protocol §6.2-c, compare and persist atomically; §6.2-d follows from it.
        new = WitnessedHead(cp.origin, cp.size, cp.root_hash, checked.log_note)
        if not self.state.advance(latest, new):
            now = self.state.latest(cp.origin)
            raise OldSizeMismatch(0 if now is None else now.size, request.old_size)
        # Step 8: only after the state is durable.
        return (cosign(self._key, self.name, checked.note.text, self._clock()),)

    def _check_request(self, body: bytes) -> _Checked:
        # Step 1.
        request = parse_add_checkpoint(body)
        try:
            note = parse_note(request.checkpoint)
        except CryptoError as exc:
            raise MalformedRequest(f"the checkpoint is not a signed note: {exc.message}") from None
        # Step 2: the first line names the origin; it is used only to find the keys to verify with.
        origin = note.text.partition("\n")[0]
        keys = self._logs.get(origin)
        if keys is None:
            raise UnknownLog("this witness does not witness a log of that origin")
        # Step 3.
        try:
            verified = verify_note(note, keys)
        except CryptoError as exc:
            raise BadLogSignature(f"the checkpoint's log signature does not verify: {exc.message}") from None
        # Step 4.
        try:
            cp = parse_checkpoint(note.text)
        except CryptoError as exc:
            raise MalformedRequest(f"the note is not a checkpoint: {exc.message}") from None
        if request.old_size > cp.size:
            raise MalformedRequest(f"old size {request.old_size} is larger than the checkpoint's size {cp.size}")
        # protocol §12-a: the other signature lines are the client's to choose (their key names are free
        # text, §5.4-d) and prove nothing here; only the log's own lines are kept, in state and evidence.
        log_lines = tuple(s for s in note.signatures if any(v.matches(s) for v in verified))
        log_note = format_note(Note(note.text, log_lines))
        return _Checked(request, note, cp, format_vkey(verified[0]), log_note)

    def _check_consistency(self, checked: _Checked, latest: WitnessedHead | None) -> None:
        request, cp = checked.request, checked.checkpoint
        old_root = EMPTY_ROOT if latest is None else latest.root_hash
        try:
            verify_consistency(request.old_size, cp.size, old_root, cp.root_hash, request.proof)
        except CryptoError as exc:
            if latest is not None:
                self._keep_evidence(checked, latest)
            if request.old_size == cp.size:
                # protocol §6.2-d: never a second root for one size (tlog-witness HEAD: 422).
                raise InconsistentCheckpoint(f"the witness cosigned another root hash for size {cp.size}") from None
            raise InconsistentCheckpoint(f"the consistency proof does not verify: {exc.message}") from None

    def _keep_evidence(self, checked: _Checked, latest: WitnessedHead) -> None:
        """protocol §6.2-g: keep a log-signed checkpoint refused as inconsistent, beside the stored one,
        as an evidence file (§6.4). Best effort: a failure to write it never changes the answer."""
        if self._evidence_dir is None:
            return
        cp = checked.checkpoint
        path: tuple[bytes, ...] = ()
        if cp.size != latest.size:
            # The witness knows no hash of the newer tree but what the proof holds; at a power-of-two
            # size it can only prepend its own root, and such a file is then not conclusive (§6.4-c).
            path = consistency_path(latest.size, checked.request.proof, latest.root_hash)
        try:
            evidence = build_evidence(checked.log_vkey, latest.checkpoint, checked.log_note, path)
        except RegistryError:
            return
        with contextlib.suppress(OSError):
            write_evidence_file(self._evidence_dir, evidence)
