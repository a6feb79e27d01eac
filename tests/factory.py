"""Test factory: deterministic keys and a small in-memory log driven through the real rules engine.

Keys come from fixed seeds (`key(n)`), time is explicit (`Log.now_ms`), nothing is mocked.

The log's leaves follow the sequencer's batches (protocol §5.6-j, checked by the replay as §8.2-h):
every leaf of a batch carries the batch's one log time, and a state leaf (§5.8-i) closes the batch.
A `Log` keeps a batch open while its clock stands still; an entry submitted after the clock moved
first closes the open batch with a state leaf at the batch's time, as a sequencer's next batch
follows the state leaf of its last one. `sealed=True` closes every batch right after its one entry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

from crypto.keys import SigningKey
from crypto.smt import SparseMerkleTree
from registry.errors import Rejected, Rejection
from registry.rules import Context, apply, check, genesis
from registry.state import DAY_MS, Member, State
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
    Statement,
    Unvouch,
    Vouch,
    declaration_hash,
    entry_from_statement,
    format_leaf,
    sign_entry,
    verify_entry,
)
from registry.statetree import StateLeaf, advance_status_tree, apply_state_leaf, format_state_leaf

ORIGIN = "registry.example/test"
EN = "I oppose the war. (test text)\n"
RU = "Я против войны. (тестовый текст)\n"
T0 = 1_700_000_000_000


def key(n: int) -> SigningKey:
    """A deterministic key for tests: seed = SHA-256("test key <n>")."""
    return SigningKey.from_seed(hashlib.sha256(f"test key {n}".encode()).digest())


def mid(k: SigningKey) -> MemberId:
    return MemberId(k.public_key)


def signed(statement: Statement, *keys: SigningKey) -> Entry:
    entry = entry_from_statement(statement)
    for k in keys:
        entry = sign_entry(entry, k)
    return entry


def policy_statement(
    founders: list[SigningKey],
    council: list[SigningKey],
    threshold: int,
    *,
    version: int = 0,
    params: Params | None = None,
    created_ms: int = T0,
    origin: str = ORIGIN,
) -> PolicyStatement:
    return PolicyStatement(
        origin=origin,
        created_ms=created_ms,
        version=version,
        founders=tuple(sorted(mid(f) for f in founders)),
        council=tuple(sorted(c.public_key for c in council)),
        threshold=threshold,
        declarations={"en": EN, "ru": RU},
        params=params or Params(voucher_min_age_days=0),
    )


@dataclass
class Log:
    """A log in memory: the state, the leaves, and a clock the test moves by hand."""

    founders: list[SigningKey]
    council: list[SigningKey]
    threshold: int = 2
    params: Params = field(default_factory=lambda: Params(voucher_min_age_days=0))
    now_ms: int = T0
    leaves: list[bytes] = field(default_factory=list)
    sealed: bool = False
    """Append a state leaf after every accepted entry, as a sequencer with batches of one does (§5.8-i).
    Otherwise a batch stays open until `seal`, or until an entry is accepted at another log time."""
    state: State = field(init=False)
    tree: SparseMerkleTree = field(init=False)
    """The status tree after the leaves (protocol §5.8)."""
    batch_open: bool = field(init=False, default=True)
    """Whether the last leaf is an entry leaf: a batch that a state leaf has not closed yet."""

    def __post_init__(self) -> None:
        stmt = policy_statement(self.founders, self.council, self.threshold, params=self.params, created_ms=self.now_ms)
        entry = signed(stmt, *self.council[: self.threshold])
        self.state = genesis(verify_entry(entry, ORIGIN), Context(0, self.now_ms))
        self.leaves.append(format_leaf(0, self.now_ms, entry))
        self.tree = advance_status_tree(SparseMerkleTree(), self.state, self.state.touched, 0)
        if self.sealed:
            self.seal()

    def seal(self) -> StateLeaf:
        """Close the batch: append a state leaf with the status tree root after every leaf so far, at the
        batch's log time (the last leaf's, protocol §8.2-f), whatever the clock says now."""
        leaf = StateLeaf(self.state.size, self.state.last_logged_ms, self.tree.root)
        self.leaves.append(format_state_leaf(leaf))
        self.state = apply_state_leaf(self.state, leaf, self.tree)
        self.batch_open = False
        return leaf

    @classmethod
    def standard(cls, **kwargs: object) -> Log:
        """Founders key(1..3), council key(101..103), threshold 2."""
        return cls(founders=[key(1), key(2), key(3)], council=[key(101), key(102), key(103)], **kwargs)  # type: ignore[arg-type]

    def tick(self, days: float = 0, ms: int = 1) -> None:
        self.now_ms += int(days * DAY_MS) + ms

    def try_submit(self, entry: Entry) -> Rejection | None:
        try:
            verified = verify_entry(entry, ORIGIN)
        except Rejected as exc:
            return exc.rejection
        # protocol §5.6-j: an entry at another time than the open batch's begins a new batch, after the
        # state leaf that closes the open one. Only an accepted entry keeps that state leaf.
        state, closing = self.state, None
        if self.batch_open and self.now_ms != state.last_logged_ms:
            closing = StateLeaf(state.size, state.last_logged_ms, self.tree.root)
            state = apply_state_leaf(state, closing, self.tree)
        ctx = Context(state.size, self.now_ms)
        rejection = check(state, verified, ctx)
        if rejection is None:
            if closing is not None:
                self.leaves.append(format_state_leaf(closing))
            self.leaves.append(format_leaf(ctx.index, ctx.logged_ms, entry))
            self.state = apply(state, verified, ctx)
            self.tree = advance_status_tree(self.tree, self.state, self.state.touched, ctx.index)
            self.batch_open = True
            if self.sealed:
                self.seal()
        self.tick()
        return rejection

    def submit(self, entry: Entry) -> None:
        rejection = self.try_submit(entry)
        if rejection is not None:
            raise Rejected(rejection)

    # --- statement makers -------------------------------------------------------------------

    def _at(self) -> dict[str, object]:
        return {"origin": ORIGIN, "created_ms": self.now_ms}

    def declare(self, member: SigningKey, sponsor: SigningKey | None, *, commitment: bytes | None = None,
                sign_sponsor: bool = True) -> Entry:
        stmt = Declare(ORIGIN, self.now_ms, mid(member), declaration_hash(EN), commitment,
                       None if sponsor is None else self.member_id_of(sponsor))
        keys = [member] + ([sponsor] if sponsor is not None and sign_sponsor else [])
        return signed(stmt, *keys)

    def vouch(self, voucher: SigningKey, subject: SigningKey, *, accept: bool = True,
              commitment: bytes | None = None) -> Entry:
        subject_id = self.member_id_of(subject)
        if commitment is None:
            m = self.state.member(subject_id)
            commitment = None if m is None else m.commitment
        stmt = Vouch(ORIGIN, self.now_ms, self.member_id_of(voucher), subject_id, commitment)
        return signed(stmt, voucher, *([subject] if accept else []))

    def unvouch(self, voucher: SigningKey, subject: SigningKey) -> Entry:
        stmt = Unvouch(ORIGIN, self.now_ms, self.member_id_of(voucher), self.member_id_of(subject))
        return signed(stmt, voucher)

    def revoke_self(self, member: SigningKey, reason: Reason) -> Entry:
        return signed(Revoke(ORIGIN, self.now_ms, self.member_id_of(member), reason, None), member)

    def council_revoke(self, member: SigningKey, reason: Reason = Reason.FRAUD, *, signers: int | None = None) -> Entry:
        stmt = Revoke(ORIGIN, self.now_ms, self.member_id_of(member), reason, hashlib.sha256(b"evidence").digest())
        return signed(stmt, *self.council[: signers if signers is not None else self.threshold])

    def reinstate(self, member: SigningKey) -> Entry:
        return signed(Reinstate(ORIGIN, self.now_ms, self.member_id_of(member), None), *self.council[: self.threshold])

    def rotate(self, old: SigningKey, new: SigningKey) -> Entry:
        return signed(Rotate(ORIGIN, self.now_ms, self.member_id_of(old), new.public_key), old, new)

    def amend(self, params: Params, *, version: int | None = None) -> Entry:
        stmt = replace(
            policy_statement([], self.council, self.threshold, params=params, created_ms=self.now_ms),
            version=self.state.policy.version + 1 if version is None else version,
        )
        return signed(stmt, *self.council[: self.threshold])

    # --- queries ------------------------------------------------------------------------------

    def member_id_of(self, k: SigningKey) -> MemberId:
        found = self.state.resolve(k.public_key)
        return found.member_id if found is not None else mid(k)

    def member(self, k: SigningKey) -> Member:
        m = self.state.resolve(k.public_key)
        if m is None:
            raise KeyError("no such member in the test log")
        return m

    def status(self, k: SigningKey) -> str:
        return str(self.state.status_of(self.member(k)))

    def join(self, member: SigningKey, sponsor: SigningKey, second: SigningKey | None = None) -> None:
        """Declare with `sponsor` and, if given, a second vouch (verified at the default threshold)."""
        self.submit(self.declare(member, sponsor))
        if second is not None:
            self.submit(self.vouch(second, member))
