"""A realistic synthetic membership log, for benchmarks (protocol §5.6, §5.7, §7, §8.2).

Usage: python scripts/synthlog.py --entries N --out FILE [--seed S] [--founders F]

Writes an export file (protocol §5.7) of a log of exactly N entries and prints the log's verifier key
(C2SP vkey) on its last line, so that `registry audit --log FILE --log-key VKEY` can replay it.

The log: a genesis policy naming the founders and a council of 3 (threshold 2); then sponsored joins
(a declaration co-signed by a verified sponsor), second vouches that verify the newcomers (the subject
countersigns), extra vouches, some unvouches, self revocations (withdrawn, duress through a pre-signed
certificate, key_compromised), council revocations for fraud (which void the vouches given, strike the
vouchers and cascade) or declaration breach, a few reinstatements, and key rotations: about five
entries per member. Every entry is accepted by the real rules engine (`registry.rules.apply`) as it is
generated; a proposal the engine refuses is dropped and counted, never written.

The default policy's rule parameters make a fast-growing log impossible: a voucher must have been
verified for 30 days and may vouch 12 times a year, while this log admits a member every few minutes
of log time. The generator therefore uses `SYNTH_PARAMS` (printed by the CLI): a voucher minimum age of
one day, a quota of 1,000 vouches a year, 1,000 statements a day and a cap of 10,000,000 pending
members; the vouch threshold (2), the pending-vouchee limit (2) and the strike limit (2) keep their
defaults. Statements are made one every `step_ms` (60 s), each created 5 s before its planned time; log
time advances a batch at a time: every leaf of a batch (the leaves up to a checkpoint, its state leaf
included) carries the planned time of the batch's last leaf, as a sequencer runs a batch once its
statements have arrived and gives it one log time (protocol §5.6-j, §8.2-h).

Everything is deterministic for a seed: member, council and log keys are
`SigningKey.from_seed(SHA-256(seed || n))`, choices come from `random.Random(seed)`, and times from the
entry index. A checkpoint is signed every 256 leaves (as a batching sequencer would) and at the end,
and the last leaf under every checkpoint is a state leaf (protocol §5.8-i).
The export is written as a stream (the leaves are never all in memory) to a temporary file that is
moved into place when complete.
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import hashlib
import importlib.resources
import os
import random
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Final

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.keys import SigningKey
from crypto.merkle import RootAccumulator, leaf_hash
from crypto.note import format_note
from crypto.notekey import NoteSigner
from crypto.smt import SparseMerkleTree
from registry.errors import Rejected
from registry.export import ExportHeader, format_checkpoint_line, format_header, format_leaf_line
from registry.rules import Context, apply, genesis
from registry.state import DAY_MS, Member, State, Status
from registry.statements import (
    Declare,
    Entry,
    MemberId,
    Params,
    PolicyStatement,
    Reason,
    Reinstate,
    Revoke,
    Rotate,
    Signature,
    Statement,
    Unvouch,
    VerifiedEntry,
    Vouch,
    declaration_hash,
    format_leaf,
    format_statement,
    signatures_message,
)
from registry.statetree import StateLeaf, advance_status_tree, apply_state_leaf, format_state_leaf

__all__ = [
    "CHECKPOINT_EVERY",
    "GENERATOR_VERSION",
    "SYNTH_ORIGIN",
    "SYNTH_PARAMS",
    "Mix",
    "SynthStats",
    "SyntheticLog",
    "describe_params",
    "log_signer",
    "main",
    "seed_key",
    "shipped_declarations",
    "write_synthetic_export",
]

GENERATOR_VERSION: Final = 4  # 2: state leaves (§5.8-i); 3: at their batch's time (§8.2-f); 4: one time a batch
"""Bumped whenever the same arguments would generate other bytes (benchmarks key their caches by it)."""

SYNTH_ORIGIN: Final = "synthetic.registry.example/log"
SYNTH_PARAMS: Final = Params(
    voucher_min_age_days=1,
    vouch_quota=1000,
    max_pending_members=10_000_000,
    rate_limit_per_day=1000,
)
CHECKPOINT_EVERY: Final = 256
START_MS: Final = 1_700_000_000_000
STEP_MS: Final = 60_000
_CREATED_BEFORE_MS: Final = 5_000  # a statement is created a few seconds before the log sequences it
_MAX_ATTEMPTS: Final = 1000
_COUNCIL_SIZE: Final = 3
_COUNCIL_THRESHOLD: Final = 2

# Key numbers: 0 the log, 1..3 the council, 1000.. the founders, then one per new key (joins, rotations).
_LOG_KEY_N: Final = 0
_COUNCIL_KEY_N: Final = 1
_FIRST_FOUNDER_N: Final = 1000


@dataclass(frozen=True, slots=True)
class Mix:
    """Relative weights of the actions tried at each step (the engine decides what is accepted).

    With these defaults a little more than one entry in five is a declaration, so about five entries per member.
    `vouch_pending` falls back to an extra vouch when no member is pending; any action with no
    candidate falls back to a declaration.
    """

    declare: float = 19.0
    vouch_pending: float = 21.0
    vouch_extra: float = 48.0
    unvouch: float = 2.5
    revoke_self: float = 2.5
    revoke_council: float = 1.2
    reinstate: float = 0.4
    rotate: float = 3.5


@dataclass(slots=True)
class SynthStats:
    """What the generator wrote. `rejected` counts proposals the rules engine refused (not written)."""

    entries: int = 0
    signatures: int = 0
    checkpoints: int = 0
    kinds: collections.Counter[str] = field(default_factory=collections.Counter)
    rejected: collections.Counter[str] = field(default_factory=collections.Counter)
    cascade_drops: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    members: int = 0
    seconds: float = 0.0

    def summary(self) -> list[str]:
        per_member = self.entries / self.members if self.members else 0.0
        kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(self.kinds.items()))
        refused = ", ".join(f"{k} {v:,}" for k, v in sorted(self.rejected.items())) or "none"
        counts = ", ".join(f"{k} {v:,}" for k, v in self.counts.items())
        return [
            f"entries {self.entries:,} and {self.checkpoints:,} state leaves (one under each checkpoint), "
            f"signatures {self.signatures:,}, checkpoints {self.checkpoints:,}",
            f"members {self.members:,} ({per_member:.2f} entries per member): {counts}",
            f"by kind: {kinds}",
            f"members dropped back to pending (unvouches, revocations, cascades): {self.cascade_drops:,}",
            f"proposals refused by the rules engine (dropped, not written): {refused}",
        ]


def seed_key(seed: bytes, n: int) -> SigningKey:
    """The n-th deterministic key of a synthetic log: `SigningKey.from_seed(SHA-256(seed || n))`."""
    return SigningKey.from_seed(hashlib.sha256(seed + n.to_bytes(8, "big")).digest())


def add_log_arguments(parser: argparse.ArgumentParser, workdir: str, cached: str = "built data directories") -> None:
    """--seed, --founders and --workdir, as every benchmark over a cached synthetic log takes them:
    `workdir` is the cache's folder under the system's temporary directory, `cached` what it holds."""
    parser.add_argument("--seed", default="synthlog", help="synthetic log seed (default: synthlog)")
    parser.add_argument("--founders", type=int, default=50, help="founders in the genesis (default 50)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / workdir,
                        help=f"where {cached} are cached (default: <tmp>/{workdir})")  # fmt: skip


def first_member_keys(seed: bytes, count: int) -> list[bytes]:
    """The first `count` public keys a synthetic log of `seed` gives its members, in order: the founders',
    then the joiners'. A key may since have been rotated away or revoked; the server still resolves it."""
    return [seed_key(seed, _FIRST_FOUNDER_N + i).public_key for i in range(count)]


def log_signer(seed: bytes, origin: str = SYNTH_ORIGIN) -> NoteSigner:
    """The log's checkpoint signer for `seed`."""
    return NoteSigner(origin, seed_key(seed, _LOG_KEY_N))


def shipped_declarations() -> dict[str, str]:
    """The declaration texts shipped with the registry package, by language."""
    folder = importlib.resources.files("registry") / "declarations"
    texts: dict[str, str] = {}
    for item in sorted(folder.iterdir(), key=lambda i: i.name):
        if item.name.endswith(".txt"):
            texts[item.name[: -len(".txt")]] = item.read_text(encoding="utf-8")
    return texts


class _Pool:
    """A set of member ids with O(1) add, remove and uniform random pick (insertion order is kept
    deterministic: a list plus positions)."""

    __slots__ = ("_items", "_pos")

    def __init__(self) -> None:
        self._items: list[MemberId] = []
        self._pos: dict[MemberId, int] = {}

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: MemberId) -> None:
        if item not in self._pos:
            self._pos[item] = len(self._items)
            self._items.append(item)

    def discard(self, item: MemberId) -> None:
        pos = self._pos.pop(item, None)
        if pos is None:
            return
        last = self._items.pop()
        if pos < len(self._items):
            self._items[pos] = last
            self._pos[last] = pos

    def pick(self, rng: random.Random) -> MemberId:
        return self._items[rng.randrange(len(self._items))]


# A proposal: the statement, the keys that sign it, the action's name (for the statistics) and the new
# key it introduces (a declaration's or a rotation's), if any.
_Proposal = tuple[Statement, Sequence[SigningKey], str, SigningKey | None]


class SyntheticLog:
    """Generates the leaves of a synthetic log one by one, each accepted by `registry.rules.apply`.

    Owner: single-threaded; `state`, the pools and the key map are written only by `leaves()`.
    """

    def __init__(
        self,
        seed: bytes,
        *,
        founders: int = 50,
        origin: str = SYNTH_ORIGIN,
        params: Params = SYNTH_PARAMS,
        step_ms: int = STEP_MS,
        start_ms: int = START_MS,
        mix: Mix | None = None,
    ) -> None:
        if founders < 1:
            raise ValueError("a synthetic log needs at least one founder")
        self.seed = seed
        self.origin = origin
        self.params = params
        self.step_ms = step_ms
        self.start_ms = start_ms
        self.rng = random.Random(seed)
        self.stats = SynthStats()
        self.signer = log_signer(seed, origin)
        self.council = [seed_key(seed, _COUNCIL_KEY_N + i) for i in range(_COUNCIL_SIZE)]
        self._founder_keys = [seed_key(seed, _FIRST_FOUNDER_N + i) for i in range(founders)]
        self._founder_ids = [MemberId(k.public_key) for k in self._founder_keys]
        self._next_key_n = _FIRST_FOUNDER_N + founders
        self.declarations = shipped_declarations()
        self._declaration_hashes = [declaration_hash(t) for _, t in sorted(self.declarations.items())]
        self._min_age_ms = params.voucher_min_age_days * DAY_MS
        self._year_ms = 365 * DAY_MS
        self.state: State | None = None
        self._batch = 1  # leaves per batch, set by `leaves()`
        self._last = 0  # the last index `leaves()` yields
        # Current signing key of every member who may still sign (dropped after a member's own revocation).
        self._keys: dict[MemberId, SigningKey] = {}
        self._verified = _Pool()  # believed verified: validated against the state whenever picked
        self._pending = _Pool()  # believed pending: members who need a vouch
        self._council_revoked = _Pool()  # candidates for reinstatement
        self._rotated: set[MemberId] = set()  # their pre-signed revocation certificate no longer works
        self._recent_sponsors: collections.deque[MemberId] = collections.deque(maxlen=64)
        weights = mix or Mix()
        self._actions = [
            (self._declare, weights.declare),
            (self._vouch_pending, weights.vouch_pending),
            (self._vouch_extra, weights.vouch_extra),
            (self._unvouch, weights.unvouch),
            (self._revoke_self, weights.revoke_self),
            (self._revoke_council, weights.revoke_council),
            (self._reinstate, weights.reinstate),
            (self._rotate, weights.rotate),
        ]
        total = sum(w for _, w in self._actions)
        acc = 0.0
        self._cumulative: list[float] = []
        for _, w in self._actions:
            acc += w / total
            self._cumulative.append(acc)

    # --- keys and entries ------------------------------------------------------------------------

    def _new_key(self) -> SigningKey:
        key = seed_key(self.seed, self._next_key_n)
        self._next_key_n += 1
        return key

    def _sign(self, statement: Statement, keys: Sequence[SigningKey]) -> Entry:
        # The statement is encoded once; its signing message once; each key signs that message.
        payload = format_statement(statement)
        message = signatures_message(Entry(statement, (), payload))
        signatures = sorted((Signature(k.public_key, k.sign(message)) for k in keys), key=attrgetter("key"))
        return Entry(statement, tuple(signatures), payload)

    def _leaf(self, index: int, logged_ms: int, entry: Entry) -> bytes:
        """`format_leaf(index, logged_ms, entry)`, assembled around the already encoded statement.

        The leaf is canonical JSON (protocol §4.1, §5.6-a) whose keys sort as entry < index < logged_ms,
        signatures < statement and key < sig, and whose strings (hex, base64) need no escaping; so the
        statement is not encoded a second time. Checked byte for byte against `format_leaf` for the first
        256 leaves and every 4096th.
        """
        signatures = b",".join(
            b'{"key":"%s","sig":"%s"}' % (s.key.hex().encode("ascii"), base64.b64encode(s.signature))
            for s in entry.signatures
        )
        leaf = b'{"entry":{"signatures":[%s],"statement":%s},"index":%d,"logged_ms":%d}' % (
            signatures,
            entry.payload,
            index,
            logged_ms,
        )
        if (index < 256 or index % 4096 == 0) and leaf != format_leaf(index, logged_ms, entry):
            raise RuntimeError(f"the assembled leaf {index} differs from format_leaf: the leaf format changed")
        return leaf

    def _planned_ms(self, index: int) -> int:
        """When the statement at `index` arrives (it was created 5 s before): its planned time, never after
        its log time (a subclass may log a batch at another time)."""
        return min(self.start_ms + index * self.step_ms, self._logged_ms(index))

    def _logged_ms(self, index: int) -> int:
        """The log time of leaf `index`: the planned time of its batch's last leaf (protocol §5.6-j)."""
        return self.start_ms + min(index - index % self._batch + self._batch - 1, self._last) * self.step_ms

    # --- the log ----------------------------------------------------------------------------------

    def genesis_entry(self) -> Entry:
        founder_ids = [MemberId(k.public_key) for k in self._founder_keys]
        policy = PolicyStatement(
            origin=self.origin,
            created_ms=self.start_ms - _CREATED_BEFORE_MS,
            version=0,
            founders=tuple(sorted(founder_ids)),
            council=tuple(sorted(k.public_key for k in self.council)),
            threshold=_COUNCIL_THRESHOLD,
            declarations=self.declarations,
            params=self.params,
        )
        return self._sign(policy, self.council[:_COUNCIL_THRESHOLD])

    def leaves(self, count: int, seal_every: int | None = None) -> Iterator[tuple[int, int, bytes]]:
        """Yield (index, signatures, leaf bytes) for indexes [0, count): the genesis, then accepted entries.

        With `seal_every`, the leaf that completes every multiple of `seal_every` leaves, and the last
        leaf, is a state leaf (0 signatures) holding the status tree root (protocol §5.8-i), as a log
        signing a checkpoint at those sizes writes it, and every leaf of such a batch carries one log
        time, the planned time of its last leaf (§5.6-j); requires count >= 2. Without it, the leaves are a plan of
        entries, each at its own planned time and none a state leaf: not a log as a sequencer writes
        it (`scripts/tamper.py` sequences them in batches of its own).
        """
        if count < 1:
            return
        if seal_every is not None and count < 2:
            raise ValueError("a sealed log has at least its genesis and a state leaf")
        self._batch, self._last = seal_every or 1, count - 1
        entry = self.genesis_entry()
        logged_ms = self._logged_ms(0)
        # The generator signed every entry itself just now, so it wraps them as verified without
        # verifying again; the audit of the written log verifies every signature.
        self.state = state = genesis(VerifiedEntry(entry), Context(0, logged_ms))
        for key in self._founder_keys:
            member_id = MemberId(key.public_key)
            self._keys[member_id] = key
            self._verified.add(member_id)
        self._count(entry)
        tree = advance_status_tree(SparseMerkleTree(), state, state.touched, 0) if seal_every else None
        yield 0, len(entry.signatures), format_leaf(0, logged_ms, entry)
        for index in range(1, count):
            ctx = Context(index, self._logged_ms(index))
            if tree is not None and seal_every is not None and ((index + 1) % seal_every == 0 or index == count - 1):
                sealed = StateLeaf(index, state.last_logged_ms, tree.root)  # protocol §8.2-f: its batch's time
                self.state = state = apply_state_leaf(state, sealed, tree)
                yield index, 0, format_state_leaf(sealed)
                continue
            for _ in range(_MAX_ATTEMPTS):
                proposal = self._propose(state, ctx)
                statement, keys, action, new_key = proposal
                entry = self._sign(statement, keys)
                try:
                    new_state = apply(state, VerifiedEntry(entry), ctx)  # signed just above: see genesis
                except Rejected as exc:
                    self.stats.rejected[f"{action}:{exc.code}"] += 1
                    continue
                break
            else:
                raise RuntimeError(f"no acceptable entry found for index {index} in {_MAX_ATTEMPTS} attempts")
            if not isinstance(statement, Declare) and new_state.pending_count > state.pending_count:
                self.stats.cascade_drops += new_state.pending_count - state.pending_count
            self.state = state = new_state
            if tree is not None:
                tree = advance_status_tree(tree, state, state.touched, index)
            self._after(state, statement, new_key)
            self._count(entry)
            yield index, len(entry.signatures), self._leaf(index, ctx.logged_ms, entry)
        self.stats.counts = dict(state.counts())
        self.stats.members = len(state.members)

    def _count(self, entry: Entry) -> None:
        self.stats.entries += 1
        self.stats.signatures += len(entry.signatures)
        self.stats.kinds[str(entry.type)] += 1

    # --- choosing members ---------------------------------------------------------------------------

    def _status(self, state: State, member: Member) -> Status:
        return member.status(state.policy.params.strike_limit)

    def _can_vouch(self, state: State, member: Member, now_ms: int, pending_after: bool) -> bool:
        """Protocol §7.4-c..h and §7.8-a for a voucher or sponsor, mirrored to avoid futile proposals."""
        if self._status(state, member) is not Status.VERIFIED:
            return False
        since = member.verified_since_ms
        if not member.founder and (since is None or now_ms - since < self._min_age_ms):
            return False
        params = state.policy.params
        if sum(1 for t in member.vouch_times_ms if t > now_ms - self._year_ms) >= params.vouch_quota:
            return False
        if sum(1 for t in member.activity_ms if t > now_ms - DAY_MS) >= params.rate_limit_per_day:
            return False
        if pending_after:
            pending = 0
            for given in member.given:
                subject = state.members.get(given.subject)
                if subject is not None and self._status(state, subject) is Status.PENDING:
                    pending += 1
            if pending >= params.max_pending_vouchees:
                return False
        return True

    def _pick_verified(self, state: State) -> Member | None:
        """A member of the verified pool that is still verified (the pool is cleaned as it is read)."""
        for _ in range(32):
            if not self._verified:
                return None
            member_id = self._verified.pick(self.rng)
            member = state.members[member_id]
            status = self._status(state, member)
            if status is Status.VERIFIED:
                return member
            self._verified.discard(member_id)
            if status is Status.PENDING:
                self._pending.add(member_id)
        return None

    def _pick_joined(self, state: State) -> Member | None:
        """A verified member who is not a founder (founders are never revoked here)."""
        for _ in range(8):
            member = self._pick_verified(state)
            if member is None:
                return None
            if not member.founder:
                return member
        return None

    def _pick_voucher(self, state: State, ctx: Context, pending_after: bool, exclude: Member | None) -> Member | None:
        """An eligible voucher: random members of the verified pool, then the founders (who are exempt
        from the minimum age, so that a young log, where everyone else is too new, still grows)."""
        for _ in range(32):
            member = self._pick_verified(state)
            if member is None:
                break
            if self._fits(state, member, ctx, pending_after, exclude):
                return member
        start = self.rng.randrange(len(self._founder_ids))
        for i in range(len(self._founder_ids)):
            member = state.members[self._founder_ids[(start + i) % len(self._founder_ids)]]
            if self._fits(state, member, ctx, pending_after, exclude):
                return member
        return None

    def _fits(self, state: State, member: Member, ctx: Context, pending_after: bool, exclude: Member | None) -> bool:
        if exclude is not None and (
            member.member_id == exclude.member_id
            or any(v.voucher == member.member_id and v.voided_by is None for v in exclude.received)
        ):
            return False
        return self._can_vouch(state, member, ctx.logged_ms, pending_after)

    def _key(self, member: Member) -> SigningKey:
        return self._keys[member.member_id]

    # --- actions ----------------------------------------------------------------------------------------

    def _propose(self, state: State, ctx: Context) -> _Proposal:
        r = self.rng.random()
        for (action, _), bound in zip(self._actions, self._cumulative, strict=True):
            if r < bound:
                proposal = action(state, ctx)
                if proposal is not None:
                    return proposal
                break
        for _ in range(16):  # the chosen action had no candidate: a declaration, else a vouch
            for fallback in (self._declare, self._vouch_pending, self._vouch_extra):
                proposal = fallback(state, ctx)
                if proposal is not None:
                    return proposal
        raise RuntimeError(f"the synthetic log is stuck at index {ctx.index}: no sponsor or voucher is eligible")

    def _created(self, ctx: Context) -> int:
        return self._planned_ms(ctx.index) - _CREATED_BEFORE_MS

    def _declare(self, state: State, ctx: Context) -> _Proposal | None:
        sponsor = self._pick_voucher(state, ctx, state.policy.params.vouch_threshold > 1, None)
        if sponsor is None:
            return None
        key = self._new_key()
        rng = self.rng
        commitment = rng.randbytes(32) if rng.random() < 0.9 else None
        declaration = self._declaration_hashes[rng.randrange(len(self._declaration_hashes))]
        statement = Declare(
            self.origin, self._created(ctx), MemberId(key.public_key), declaration, commitment, sponsor.member_id
        )
        return statement, (key, self._key(sponsor)), "declare", key

    def _vouch_for(self, state: State, ctx: Context, subject: Member, action: str) -> _Proposal | None:
        threshold = state.policy.params.vouch_threshold
        pending_after = self._status(state, subject) is Status.PENDING and state.valid_vouches(subject) + 1 < threshold
        voucher = self._pick_voucher(state, ctx, pending_after, subject)
        if voucher is None:
            return None
        statement = Vouch(self.origin, self._created(ctx), voucher.member_id, subject.member_id, subject.commitment)
        return statement, (self._key(voucher), self._key(subject)), action, None

    def _vouch_pending(self, state: State, ctx: Context) -> _Proposal | None:
        for _ in range(8):
            if not self._pending:
                break
            member_id = self._pending.pick(self.rng)
            subject = state.members[member_id]
            status = self._status(state, subject)
            if status is Status.PENDING:
                return self._vouch_for(state, ctx, subject, "vouch_pending")
            self._pending.discard(member_id)
            if status is Status.VERIFIED:
                self._verified.add(member_id)
        return self._vouch_extra(state, ctx)

    def _vouch_extra(self, state: State, ctx: Context) -> _Proposal | None:
        subject = self._pick_verified(state)
        if subject is None:
            return None
        return self._vouch_for(state, ctx, subject, "vouch_extra")

    def _unvouch(self, state: State, ctx: Context) -> _Proposal | None:
        voucher = self._pick_verified(state)
        if voucher is None or not voucher.given:
            return None
        given = voucher.given[self.rng.randrange(len(voucher.given))]
        subject = state.members[given.subject]
        if not any(v.voucher == voucher.member_id and v.voided_by is None for v in subject.received):
            return None
        statement = Unvouch(self.origin, self._created(ctx), voucher.member_id, subject.member_id)
        return statement, (self._key(voucher),), "unvouch", None

    def _revoke_self(self, state: State, ctx: Context) -> _Proposal | None:
        member = self._pick_joined(state)
        if member is None:
            return None
        r = self.rng.random()
        if r < 0.2 and member.member_id not in self._rotated:
            # A pre-signed revocation certificate (made at keygen), submitted by a trusted friend: its
            # creation time is the member's declaration time.
            created = self._planned_ms(member.declared_index) - _CREATED_BEFORE_MS
            statement = Revoke(self.origin, created, member.member_id, Reason.DURESS, None)
            return statement, (self._key(member),), "revoke_duress_certificate", None
        reason = Reason.WITHDRAWN if r < 0.7 else Reason.KEY_COMPROMISED
        statement = Revoke(self.origin, self._created(ctx), member.member_id, reason, None)
        return statement, (self._key(member),), f"revoke_{reason}", None

    def _council_keys(self) -> list[SigningKey]:
        return self.rng.sample(self.council, _COUNCIL_THRESHOLD)

    def _revoke_council(self, state: State, ctx: Context) -> _Proposal | None:
        member = None
        if self._recent_sponsors and self.rng.random() < 0.5:
            # Half the frauds are found among the sponsors of recent joins (fake identities bring in
            # others): their newcomers, who hold just two vouches, drop back to pending (§7.7 cascade).
            candidate = state.members[self._recent_sponsors[self.rng.randrange(len(self._recent_sponsors))]]
            if not candidate.founder and self._status(state, candidate) is Status.VERIFIED:
                member = candidate
        if member is None:
            member = self._pick_joined(state)
        if member is None:
            return None
        reason = Reason.FRAUD if self.rng.random() < 0.85 else Reason.DECLARATION_BREACH
        evidence = self.rng.randbytes(32)  # stands for SHA-256 of the evidence file
        statement = Revoke(self.origin, self._created(ctx), member.member_id, reason, evidence)
        return statement, self._council_keys(), f"revoke_{reason}", None

    def _reinstate(self, state: State, ctx: Context) -> _Proposal | None:
        for _ in range(4):
            if not self._council_revoked:
                return None
            member_id = self._council_revoked.pick(self.rng)
            member = state.members[member_id]
            if member.revocation is None or not member.revocation.reason.by_council:
                self._council_revoked.discard(member_id)
                continue
            statement = Reinstate(self.origin, self._created(ctx), member_id, self.rng.randbytes(32))
            return statement, self._council_keys(), "reinstate", None
        return None

    def _rotate(self, state: State, ctx: Context) -> _Proposal | None:
        member = self._pick_verified(state)
        if member is None:
            return None
        key = self._new_key()
        statement = Rotate(self.origin, self._created(ctx), member.member_id, key.public_key)
        return statement, (self._key(member), key), "rotate", key

    # --- bookkeeping after an accepted entry -------------------------------------------------------------

    def _settle(self, state: State, member_id: MemberId) -> None:
        """Put a member whose status may have changed into the right pool."""
        member = state.members.get(member_id)
        if member is None:
            return
        status = self._status(state, member)
        if status is Status.VERIFIED:
            self._pending.discard(member_id)
            self._verified.add(member_id)
        elif status is Status.PENDING:
            self._verified.discard(member_id)
            self._pending.add(member_id)
        else:
            self._verified.discard(member_id)
            self._pending.discard(member_id)

    def _after(self, state: State, statement: Statement, new_key: SigningKey | None) -> None:
        match statement:
            case Declare() if new_key is not None:
                self._keys[statement.member] = new_key
                if statement.sponsor is not None:
                    self._recent_sponsors.append(statement.sponsor)
                self._settle(state, statement.member)
            case Vouch():
                self._settle(state, statement.subject)
            case Unvouch():
                self._settle(state, statement.subject)
            case Revoke():
                member = state.members[statement.member]
                self._settle(state, statement.member)
                for given in member.given:
                    self._settle(state, given.subject)
                if statement.reason.by_council:
                    self._council_revoked.add(statement.member)
                else:
                    del self._keys[statement.member]  # a member's own revocation is final
            case Reinstate():
                self._council_revoked.discard(statement.member)
                member = state.members[statement.member]
                self._settle(state, statement.member)
                for given in member.given:
                    self._settle(state, given.subject)
            case Rotate() if new_key is not None:
                self._keys[statement.member] = new_key
                self._rotated.add(statement.member)
            case _:
                pass


def write_synthetic_export(
    path: Path,
    entries: int,
    *,
    seed: bytes,
    founders: int = 50,
    mix: Mix | None = None,
    step_ms: int = STEP_MS,
    progress: bool = False,
) -> tuple[str, SynthStats]:
    """Generate a log of `entries` entries and write its export file to `path` (atomically).

    Returns:
        The log's verifier key (C2SP vkey) and the generator's statistics.
    """
    if entries < 1:
        raise ValueError("a log has at least its genesis entry")
    started = time.perf_counter()
    log = SyntheticLog(seed, founders=founders, mix=mix, step_ms=step_ms)
    signer = log.signer
    acc = RootAccumulator()
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        with open(temporary, "wb", buffering=1 << 20) as file:
            file.write(format_header(ExportHeader(log.origin, signer.vkey, entries)))
            for index, _, leaf in log.leaves(entries, seal_every=CHECKPOINT_EVERY):
                file.write(format_leaf_line(index, leaf))
                acc.append(leaf_hash(leaf))
                size = index + 1
                if size % CHECKPOINT_EVERY == 0 or size == entries:
                    note = sign_checkpoint(Checkpoint(log.origin, size, acc.root()), signer)
                    file.write(format_checkpoint_line(size, format_note(note)))
                    log.stats.checkpoints += 1
                if progress and size % 10_000 == 0:
                    rate = size / (time.perf_counter() - started)
                    print(f"\rgenerated {size:,}/{entries:,} entries ({rate:,.0f}/s)", end="", file=sys.stderr)
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    if progress:
        print(file=sys.stderr)
    log.stats.seconds = time.perf_counter() - started
    return signer.vkey, log.stats


def describe_params(params: Params = SYNTH_PARAMS) -> str:
    return ", ".join(f"{name}={getattr(params, name)}" for name in Params.__slots__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, required=True, help="entries in the log, genesis included")
    parser.add_argument("--out", type=Path, required=True, help="the export file to write")
    parser.add_argument("--seed", default="synthlog", help="seed of every key and choice (default: synthlog)")
    parser.add_argument("--founders", type=int, default=50, help="founders named by the genesis (default 50)")
    args = parser.parse_args(argv)
    if args.entries < 1:
        parser.error("--entries must be at least 1")
    print(f"rule parameters (relaxed for a fast-growing log): {describe_params()}")
    vkey, stats = write_synthetic_export(
        args.out, args.entries, seed=args.seed.encode("utf-8"), founders=args.founders, progress=sys.stderr.isatty()
    )
    for line in stats.summary():
        print(line)
    print(f"generated in {stats.seconds:.1f} s ({stats.entries / stats.seconds:,.0f} entries/s)")
    print(vkey)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
