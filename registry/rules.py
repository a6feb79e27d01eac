"""The rules engine: `apply(state, entry) -> state` or a rejection (protocol §7).

Pure: no clock, no I/O, no randomness. Time arrives as the leaf's `logged_ms`. The server, the
auditor and the verifier call the same `apply`, so anyone can check that nobody was admitted or
removed outside the rules. Per-entry work does not grow with the number of members, except the
cascades of §7.7, which touch only the members whose vouches changed and those downstream of them.

Each statement kind has `check_<kind>(state, entry, ctx)` returning a `Rejection` or None, with one
`if` per rule of the spec in the spec's order, and an `_apply_<kind>` that builds the next state.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Final

import immutables

from .errors import ErrorCode, Rejected, Rejection
from .state import DAY_MS, GivenVouch, Member, Revocation, State, Status, VouchRecord
from .statements import (
    Declare,
    MemberId,
    PolicyStatement,
    Reason,
    Reinstate,
    Revoke,
    Rotate,
    Unvouch,
    VerifiedEntry,
    Vouch,
    declaration_hash,
)

__all__ = ["MAX_CLOCK_SKEW_MS", "REQUIRED_LANGUAGES", "YEAR_MS", "Context", "apply", "check", "genesis"]

MAX_CLOCK_SKEW_MS: Final = 300_000
YEAR_MS: Final = 365 * DAY_MS
REQUIRED_LANGUAGES: Final = ("en", "ru")


@dataclass(frozen=True, slots=True)
class Context:
    """Where the entry lands: its log index and log time (assigned by the sequencer)."""

    index: int
    logged_ms: int


def _reject(code: ErrorCode, message: str, section: str) -> Rejection:
    return Rejection(code, message, section)


# --- signer checks (§7.1) ---------------------------------------------------------------------------


def _check_signers(state: State, entry: VerifiedEntry, required: Iterable[bytes], section: str) -> Rejection | None:
    """Every required key signed, and nobody else did (§7.1-c, §7.1-e)."""
    required_set = frozenset(required)
    signers = entry.signers
    for key in sorted(signers - required_set):
        if key in state.retired:  # [7.1-f]
            return _reject(ErrorCode.KEY_RETIRED, "the statement is signed with a key retired by rotation", "7.1-f")
        return _reject(ErrorCode.UNEXPECTED_SIGNATURE, "the statement is signed by a key it does not name", "7.1-e")
    if not required_set <= signers:
        return _reject(ErrorCode.INSUFFICIENT_SIGNATURES, "a party named by the statement has not signed it", section)
    return None


def _check_council(state: State, entry: VerifiedEntry) -> Rejection | None:
    """At least m of the council in force signed, and only council keys (§7.1-d)."""
    council = frozenset(state.policy.council)
    if not entry.signers <= council:
        return _reject(
            ErrorCode.UNEXPECTED_SIGNATURE, "a council statement is signed by a key outside the council", "7.1-e"
        )
    if len(entry.signers) < state.policy.threshold:
        return _reject(
            ErrorCode.INSUFFICIENT_SIGNATURES,
            f"a council statement needs {state.policy.threshold} council signatures, it has {len(entry.signers)}",
            "7.1-d",
        )
    return None


def _known(state: State, member_id: MemberId, role: str) -> Member | Rejection:
    member = state.members.get(member_id)
    if member is None:
        if member_id in state.retired:
            return _reject(
                ErrorCode.KEY_RETIRED, f"the {role} names a key retired by rotation, not a member id", "7.1-f"
            )
        return _reject(ErrorCode.UNKNOWN_MEMBER, f"the {role} is not a member of this registry", "7.3-e")
    return member


def _recent(times: tuple[int, ...], now_ms: int, window_ms: int) -> int:
    return sum(1 for t in times if t > now_ms - window_ms)


def _check_rate(state: State, actor: Member, ctx: Context) -> Rejection | None:
    limit = state.policy.params.rate_limit_per_day
    if _recent(actor.activity_ms, ctx.logged_ms, DAY_MS) >= limit:  # [7.8-a]
        return _reject(ErrorCode.RATE_LIMITED, f"a member may make at most {limit} statements a day", "7.8-a")
    return None


def _check_voucher(state: State, voucher: Member, subject_pending_after: bool, ctx: Context) -> Rejection | None:
    """The rules a voucher (or sponsor) must meet, in the order of §7.4."""
    params = state.policy.params
    status = state.status_of(voucher)
    if status is Status.REVOKED:  # [7.4-c]
        return _reject(ErrorCode.MEMBER_REVOKED, "the voucher's membership is revoked", "7.4-c")
    if status is Status.SUSPENDED:  # [7.4-d]
        return _reject(ErrorCode.VOUCHER_SUSPENDED, "the voucher is suspended from vouching after strikes", "7.4-d")
    if status is not Status.VERIFIED:  # [7.4-e]
        return _reject(ErrorCode.VOUCHER_NOT_VERIFIED, "the voucher is not verified", "7.4-e")
    min_age_ms = params.voucher_min_age_days * DAY_MS
    since = voucher.verified_since_ms if voucher.verified_since_ms is not None else ctx.logged_ms
    if not voucher.founder and ctx.logged_ms - since < min_age_ms:  # [7.4-f]
        return _reject(
            ErrorCode.VOUCHER_TOO_NEW,
            f"the voucher must have been verified for {params.voucher_min_age_days} days",
            "7.4-f",
        )
    if _recent(voucher.vouch_times_ms, ctx.logged_ms, YEAR_MS) >= params.vouch_quota:  # [7.4-g]
        return _reject(ErrorCode.QUOTA_EXCEEDED, f"a voucher may vouch {params.vouch_quota} times in 365 days", "7.4-g")
    if subject_pending_after:  # [7.4-h]
        pending = sum(
            1
            for g in voucher.given
            if (s := state.members.get(g.subject)) is not None and state.status_of(s) is Status.PENDING
        )
        if pending + 1 > params.max_pending_vouchees:
            return _reject(
                ErrorCode.TOO_MANY_PENDING,
                f"a voucher may have at most {params.max_pending_vouchees} vouchees pending at once",
                "7.4-h",
            )
    return _check_rate(state, voucher, ctx)


# --- checks per kind ---------------------------------------------------------------------------------


def check_common(state: State, entry: VerifiedEntry, ctx: Context) -> Rejection | None:
    """Rules for every entry after genesis (§7.1)."""
    if ctx.index != state.size:  # [5.6-b]
        return _reject(ErrorCode.MALFORMED_ENTRY, f"the leaf index must be {state.size}", "5.6-b")
    if ctx.logged_ms < state.last_logged_ms:  # [5.6-c]
        return _reject(ErrorCode.BAD_TIME, "the log time must never decrease", "5.6-c")
    if entry.statement.origin != state.origin:  # [7.1-a]
        return _reject(ErrorCode.WRONG_ORIGIN, "the statement names another log's origin", "7.1-a")
    if entry.entry.payload_hash in state.seen:  # [7.1-g]
        return _reject(ErrorCode.DUPLICATE_ENTRY, "this statement is already in the log", "7.1-g")
    if entry.statement.created_ms > ctx.logged_ms + MAX_CLOCK_SKEW_MS:  # [7.1-h]
        return _reject(ErrorCode.BAD_TIME, "the statement's creation time is in the future", "7.1-h")
    return None


def check_policy(state: State, entry: VerifiedEntry, stmt: PolicyStatement, ctx: Context) -> Rejection | None:
    """An amendment (§7.2)."""
    if stmt.version != state.policy.version + 1:  # [7.2-e]
        return _reject(ErrorCode.BAD_POLICY, f"an amendment must have version {state.policy.version + 1}", "7.2-e")
    if stmt.founders:  # [7.2-f]
        return _reject(ErrorCode.BAD_POLICY, "founders are named only by the genesis policy", "7.2-f")
    if rejection := _check_policy_content(stmt):
        return rejection
    return _check_council(state, entry)  # [7.2-g]


def _check_policy_content(stmt: PolicyStatement) -> Rejection | None:
    for lang in REQUIRED_LANGUAGES:  # [7.2-c]
        if lang not in stmt.declarations:
            return _reject(ErrorCode.BAD_POLICY, f"a policy must hold a declaration in '{lang}'", "7.2-c")
    return None


def check_declare(state: State, entry: VerifiedEntry, stmt: Declare, ctx: Context) -> Rejection | None:
    """A new member declares, co-signed by a sponsor (§7.3)."""
    params = state.policy.params
    if stmt.member in state.retired:  # [7.1-f]
        return _reject(ErrorCode.KEY_RETIRED, "this key was retired by rotation and cannot declare again", "7.1-f")
    if stmt.member in state.keys or stmt.member in state.members:  # [7.3-f]
        return _reject(ErrorCode.ALREADY_MEMBER, "this key is already a member", "7.3-f")
    if stmt.declaration not in {declaration_hash(t) for t in state.policy.declarations.values()}:  # [7.3-g]
        return _reject(
            ErrorCode.UNKNOWN_DECLARATION, "the declaration hash names no text of the policy in force", "7.3-g"
        )
    if stmt.sponsor is None:
        if params.sponsor_required:  # [7.3-h]
            return _reject(ErrorCode.SPONSOR_REQUIRED, "a declaration must be co-signed by a sponsor", "7.3-h")
        required: tuple[bytes, ...] = (stmt.member,)
    else:
        if stmt.sponsor == stmt.member:  # [7.4-a]
            return _reject(ErrorCode.SELF_VOUCH, "a member cannot sponsor themselves", "7.4-a")
        sponsor = _known(state, stmt.sponsor, "sponsor")
        if isinstance(sponsor, Rejection):
            return sponsor
        required = (stmt.member, sponsor.key)
    if rejection := _check_signers(state, entry, required, "7.3-i"):  # [7.3-i]
        return rejection
    if state.pending_count >= params.max_pending_members:  # [7.8-b]
        return _reject(ErrorCode.RATE_LIMITED, "the registry has reached its cap on pending members", "7.8-b")
    if stmt.sponsor is not None:
        sponsor_member = state.members[stmt.sponsor]
        pending_after = params.vouch_threshold > 1
        return _check_voucher(state, sponsor_member, pending_after, ctx)
    return None


def check_vouch(state: State, entry: VerifiedEntry, stmt: Vouch, ctx: Context) -> Rejection | None:
    """A verified member vouches for another, who countersigns (§7.4)."""
    if stmt.voucher == stmt.subject:  # [7.4-a]
        return _reject(ErrorCode.SELF_VOUCH, "a member cannot vouch for themselves", "7.4-a")
    voucher = _known(state, stmt.voucher, "voucher")
    if isinstance(voucher, Rejection):
        return voucher
    subject = _known(state, stmt.subject, "subject")
    if isinstance(subject, Rejection):
        return subject
    if rejection := _check_signers(state, entry, (voucher.key, subject.key), "7.4-b"):  # [7.4-b]
        return rejection
    if subject.revocation is not None:  # [7.4-c]
        return _reject(ErrorCode.MEMBER_REVOKED, "the subject's membership is revoked", "7.4-c")
    if stmt.commitment != subject.commitment:  # [7.4-i]
        return _reject(ErrorCode.COMMITMENT_MISMATCH, "the vouch names another identity commitment", "7.4-i")
    if any(v.voucher == voucher.member_id and v.voided_by is None for v in subject.received):  # [7.4-j]
        return _reject(ErrorCode.ALREADY_VOUCHED, "the voucher already vouches for this member", "7.4-j")
    pending_after = (
        state.status_of(subject) is Status.PENDING
        and state.valid_vouches(subject) + 1 < state.policy.params.vouch_threshold
    )
    return _check_voucher(state, voucher, pending_after, ctx)


def check_unvouch(state: State, entry: VerifiedEntry, stmt: Unvouch, ctx: Context) -> Rejection | None:
    """A voucher withdraws a vouch (§7.5)."""
    voucher = _known(state, stmt.voucher, "voucher")
    if isinstance(voucher, Rejection):
        return voucher
    subject = _known(state, stmt.subject, "subject")
    if isinstance(subject, Rejection):
        return subject
    if rejection := _check_signers(state, entry, (voucher.key,), "7.5-a"):  # [7.5-a]
        return rejection
    if voucher.revocation is not None:  # [7.5-b]
        return _reject(ErrorCode.MEMBER_REVOKED, "the voucher's membership is revoked", "7.5-b")
    if not any(v.voucher == voucher.member_id and v.voided_by is None for v in subject.received):  # [7.5-c]
        return _reject(ErrorCode.NO_SUCH_VOUCH, "there is no vouch in force to withdraw", "7.5-c")
    return None


def check_revoke(state: State, entry: VerifiedEntry, stmt: Revoke, ctx: Context) -> Rejection | None:
    """A revocation by the member or by the council (§7.6)."""
    member = _known(state, stmt.member, "member")
    if isinstance(member, Rejection):
        return member
    if member.revocation is not None:  # [7.6-b]
        return _reject(ErrorCode.MEMBER_REVOKED, "the membership is already revoked", "7.6-b")
    if stmt.reason.by_council:
        if stmt.evidence is None:  # [7.6-c]
            return _reject(ErrorCode.MALFORMED_ENTRY, "a council revocation must carry the evidence hash", "7.6-c")
        return _check_council(state, entry)  # [7.6-d]
    if stmt.evidence is not None:  # [7.6-e]
        return _reject(ErrorCode.MALFORMED_ENTRY, "a member's own revocation carries no evidence", "7.6-e")
    return _check_signers(state, entry, (member.key,), "7.6-f")  # [7.6-f]


def check_reinstate(state: State, entry: VerifiedEntry, stmt: Reinstate, ctx: Context) -> Rejection | None:
    """The council reverses its own revocation (§7.6-g)."""
    member = _known(state, stmt.member, "member")
    if isinstance(member, Rejection):
        return member
    if member.revocation is None or not member.revocation.reason.by_council:  # [7.6-g]
        return _reject(ErrorCode.NOT_REVOKED_BY_COUNCIL, "only a council revocation can be reversed", "7.6-g")
    return _check_council(state, entry)


def check_rotate(state: State, entry: VerifiedEntry, stmt: Rotate, ctx: Context) -> Rejection | None:
    """A membership moves to a new key (§7.9)."""
    member = _known(state, stmt.member, "member")
    if isinstance(member, Rejection):
        return member
    if member.revocation is not None:  # [7.9-a]
        return _reject(ErrorCode.MEMBER_REVOKED, "a revoked membership cannot rotate its key", "7.9-a")
    if stmt.new_key in state.retired:  # [7.9-b]
        return _reject(ErrorCode.KEY_RETIRED, "the new key was retired before", "7.9-b")
    if stmt.new_key in state.keys or stmt.new_key in state.members:  # [7.9-b]
        return _reject(ErrorCode.ALREADY_MEMBER, "the new key already belongs to a member", "7.9-b")
    return _check_signers(state, entry, (member.key, stmt.new_key), "7.9-c")  # [7.9-c]


def check(state: State, entry: VerifiedEntry, ctx: Context) -> Rejection | None:
    """Would `entry` be accepted at `ctx`? Never raises for a broken rule."""
    if rejection := check_common(state, entry, ctx):
        return rejection
    stmt = entry.statement
    match stmt:
        case PolicyStatement():
            return check_policy(state, entry, stmt, ctx)
        case Declare():
            return check_declare(state, entry, stmt, ctx)
        case Vouch():
            return check_vouch(state, entry, stmt, ctx)
        case Unvouch():
            return check_unvouch(state, entry, stmt, ctx)
        case Revoke():
            return check_revoke(state, entry, stmt, ctx)
        case Reinstate():
            return check_reinstate(state, entry, stmt, ctx)
        case Rotate():
            return check_rotate(state, entry, stmt, ctx)


# --- building the next state -----------------------------------------------------------------------


class _Tx:
    """A local, single-use builder of the next state. Owner: one call of `apply`; never escapes it."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.members = state.members.mutate()
        self.keys = state.keys.mutate()
        self.retired = state.retired.mutate()
        self.pending_count = state.pending_count
        self.policy = state.policy
        self.strike_limit = state.strike_limit
        self.touched: set[MemberId] = set()

    def get(self, member_id: MemberId) -> Member:
        return self.members[member_id]

    def put(self, member: Member) -> None:
        old = self.members.get(member.member_id)
        if old is not None and old.status(self.strike_limit) is Status.PENDING:
            self.pending_count -= 1
        if member.status(self.strike_limit) is Status.PENDING:
            self.pending_count += 1
        self.members[member.member_id] = member
        self.touched.add(member.member_id)

    def valid_vouches(self, member: Member) -> int:
        count = 0
        for vouch in member.received:
            if vouch.voided_by is None:
                voucher = self.members.get(vouch.voucher)
                if voucher is not None and voucher.qualified:
                    count += 1
        return count

    def cascade(self, start: Iterable[MemberId], logged_ms: int) -> None:
        """Recompute qualification from `start` and downstream, until nothing changes (§7.7).

        Members are visited in member-id order (a heap), so the result is deterministic.
        """
        threshold = self.policy.params.vouch_threshold
        heap = sorted(set(start))
        queued = set(heap)
        while heap:
            member_id = heapq.heappop(heap)
            queued.discard(member_id)
            member = self.members.get(member_id)
            if member is None:
                continue
            qualified = member.founder or self.valid_vouches(member) >= threshold
            if qualified == member.qualified:
                continue
            self.put(replace(member, qualified=qualified, verified_since_ms=logged_ms if qualified else None))
            for given in member.given:  # [7.7-b] the vouches this member gave now count, or stop counting
                if given.subject not in queued:
                    queued.add(given.subject)
                    heapq.heappush(heap, given.subject)

    def finish(self, ctx: Context, payload_hash: bytes) -> State:
        return State(
            origin=self.state.origin,
            policy=self.policy,
            size=ctx.index + 1,
            last_logged_ms=ctx.logged_ms,
            members=self.members.finish(),
            keys=self.keys.finish(),
            retired=self.retired.finish(),
            seen=self.state.seen.set(payload_hash, ctx.index),
            pending_count=self.pending_count,
            touched=frozenset(self.touched),
        )


def _touch(member: Member, index: int) -> Member:
    return replace(member, history=(*member.history, index))


def _act(member: Member, ctx: Context, limit: int) -> Member:
    return replace(member, activity_ms=(*member.activity_ms, ctx.logged_ms)[-limit:])


def _give(tx: _Tx, voucher: Member, subject_id: MemberId, ctx: Context) -> Member:
    """Record a vouch on the voucher's side: the vouch, its quota time (pruned to the last 365 days),
    the statement in the voucher's history and its activity for the rate limit, in one copy."""
    times = tuple(t for t in voucher.vouch_times_ms if t > ctx.logged_ms - YEAR_MS)
    return replace(
        voucher,
        given=(*voucher.given, GivenVouch(subject_id, ctx.index, ctx.logged_ms, voucher.key)),
        vouch_times_ms=(*times, ctx.logged_ms),
        history=(*voucher.history, ctx.index),
        activity_ms=(*voucher.activity_ms, ctx.logged_ms)[-tx.policy.params.rate_limit_per_day :],
    )


def _apply_declare(tx: _Tx, stmt: Declare, ctx: Context) -> None:
    received: tuple[VouchRecord, ...] = ()
    if stmt.sponsor is not None:
        sponsor = tx.get(stmt.sponsor)
        received = (VouchRecord(sponsor.member_id, ctx.index, ctx.logged_ms, sponsor.key),)  # [7.3-j]
        tx.put(_give(tx, sponsor, stmt.member, ctx))
    member = Member(
        member_id=stmt.member,
        key=stmt.member,
        founder=False,
        commitment=stmt.commitment,
        declared_index=ctx.index,
        received=received,
        history=(ctx.index,),
    )
    tx.put(member)
    tx.keys[stmt.member] = stmt.member
    tx.cascade([stmt.member], ctx.logged_ms)


def _apply_vouch(tx: _Tx, stmt: Vouch, ctx: Context) -> None:
    voucher = tx.get(stmt.voucher)
    subject = tx.get(stmt.subject)
    record = VouchRecord(voucher.member_id, ctx.index, ctx.logged_ms, voucher.key)
    tx.put(_give(tx, voucher, stmt.subject, ctx))
    tx.put(replace(subject, received=(*subject.received, record), history=(*subject.history, ctx.index)))
    tx.cascade([stmt.subject], ctx.logged_ms)


def _apply_unvouch(tx: _Tx, stmt: Unvouch, ctx: Context) -> None:
    voucher = tx.get(stmt.voucher)
    subject = tx.get(stmt.subject)
    received = tuple(v for v in subject.received if not (v.voucher == stmt.voucher and v.voided_by is None))
    given = tuple(g for g in voucher.given if g.subject != stmt.subject)
    limit = tx.policy.params.rate_limit_per_day
    tx.put(_act(_touch(replace(voucher, given=given), ctx.index), ctx, limit))
    tx.put(_touch(replace(subject, received=received), ctx.index))
    tx.cascade([stmt.subject], ctx.logged_ms)


def _set_voided(
    tx: _Tx,
    subject_id: MemberId,
    voucher_id: MemberId,
    keys: frozenset[bytes] | None,
    voided_by: int | None,
    match_voided: int | None,
) -> None:
    """Void (or restore) the vouches `voucher_id` gave to `subject_id` (§7.6-h, §7.6-i, §7.6-g)."""
    subject = tx.get(subject_id)
    changed = False
    records = []
    for v in subject.received:
        if v.voucher == voucher_id and v.voided_by == match_voided and (keys is None or v.key in keys):
            records.append(replace(v, voided_by=voided_by))
            changed = True
        else:
            records.append(v)
    if changed:
        tx.put(replace(subject, received=tuple(records)))


def _apply_revoke(tx: _Tx, stmt: Revoke, ctx: Context) -> None:
    member = tx.get(stmt.member)
    struck: list[MemberId] = []
    affected: list[MemberId] = []
    if stmt.reason in (Reason.FRAUD, Reason.KEY_COMPROMISED):
        # [7.6-h] fraud voids every vouch the member gave; [7.6-i] key_compromised those that key signed.
        keys = None if stmt.reason is Reason.FRAUD else frozenset({member.key})
        for given in member.given:
            if keys is None or given.key in keys:
                _set_voided(tx, given.subject, member.member_id, keys, ctx.index, None)
                affected.append(given.subject)
    if stmt.reason is Reason.FRAUD:
        # [7.6-j] each voucher of a fraudulent member gets a strike.
        for vouch in member.received:
            if vouch.voided_by is None and vouch.voucher in tx.members:
                voucher = tx.get(vouch.voucher)
                tx.put(replace(voucher, strikes=(*voucher.strikes, ctx.index)))
                struck.append(voucher.member_id)
    revocation = Revocation(stmt.reason, ctx.index, ctx.logged_ms, tuple(struck))
    tx.put(replace(_touch(tx.get(stmt.member), ctx.index), revocation=revocation))
    tx.cascade(affected, ctx.logged_ms)


def _apply_reinstate(tx: _Tx, stmt: Reinstate, ctx: Context) -> None:
    member = tx.get(stmt.member)
    revocation = member.revocation
    if revocation is None:  # unreachable after check_reinstate; keeps the types exact
        return
    tx.put(replace(_touch(member, ctx.index), revocation=None))
    affected: list[MemberId] = []
    for given in member.given:  # [7.6-k] what the revocation voided is restored
        _set_voided(tx, given.subject, member.member_id, None, None, revocation.index)
        affected.append(given.subject)
    for voucher_id in revocation.struck:  # [7.6-k] and the strikes it gave are lifted
        voucher = tx.members.get(voucher_id)
        if voucher is not None and revocation.index in voucher.strikes:
            tx.put(replace(voucher, strikes=tuple(s for s in voucher.strikes if s != revocation.index)))
    tx.cascade(affected, ctx.logged_ms)


def _apply_rotate(tx: _Tx, stmt: Rotate, ctx: Context) -> None:
    member = tx.get(stmt.member)
    del tx.keys[member.key]
    tx.retired[member.key] = member.member_id  # [7.9-d] the old key can sign nothing afterwards
    tx.keys[stmt.new_key] = member.member_id
    tx.put(replace(_touch(member, ctx.index), key=stmt.new_key))


def _apply_policy(tx: _Tx, stmt: PolicyStatement, ctx: Context) -> None:
    old = tx.policy.params
    tx.policy = stmt
    tx.strike_limit = stmt.params.strike_limit
    if stmt.params.strike_limit != old.strike_limit:
        # A member's status depends on the strike limit: those with strikes may change without a put.
        tx.touched.update(m.member_id for m in tx.state.members.values() if m.strikes)
    if stmt.params.vouch_threshold != old.vouch_threshold or stmt.params.strike_limit != old.strike_limit:
        # [7.2-h] a change of threshold or strike limit is applied to every member, in member-id order.
        members = tx.state.members  # an amendment changes no member before this point
        tx.pending_count = sum(m.status(tx.strike_limit) is Status.PENDING for m in members.values())
        tx.cascade(list(members.keys()), ctx.logged_ms)


def apply(state: State, entry: VerifiedEntry, ctx: Context) -> State:
    """Advance `state` by one entry, or raise `Rejected` (protocol §7). Pure.

    Requires `entry` to come from `verify_entry` (signatures checked against its origin).

    Raises:
        Rejected: with the code of the first rule the entry breaks, in the order of §7.
    """
    if (rejection := check(state, entry, ctx)) is not None:
        raise Rejected(rejection)
    tx = _Tx(state)
    stmt = entry.statement
    payload_hash = entry.entry.payload_hash
    match stmt:
        case PolicyStatement():
            _apply_policy(tx, stmt, ctx)
        case Declare():
            _apply_declare(tx, stmt, ctx)
        case Vouch():
            _apply_vouch(tx, stmt, ctx)
        case Unvouch():
            _apply_unvouch(tx, stmt, ctx)
        case Revoke():
            _apply_revoke(tx, stmt, ctx)
        case Reinstate():
            _apply_reinstate(tx, stmt, ctx)
        case Rotate():
            _apply_rotate(tx, stmt, ctx)
    return tx.finish(ctx, payload_hash)


def genesis(entry: VerifiedEntry, ctx: Context) -> State:
    """The state after the genesis policy at index 0 (protocol §7.2-a, §7.2-b).

    Raises:
        Rejected: `not_genesis` when the entry is not a version-0 policy at index 0, `bad_policy`,
            `insufficient_signatures` / `unexpected_signature` when fewer than m of its own council signed.
    """
    stmt = entry.statement
    if ctx.index != 0 or not isinstance(stmt, PolicyStatement) or stmt.version != 0:  # [7.2-a]
        raise Rejected(_reject(ErrorCode.NOT_GENESIS, "a log begins with a version-0 policy at index 0", "7.2-a"))
    if rejection := _check_policy_content(stmt):
        raise Rejected(rejection)
    if not stmt.founders:  # [7.2-b]
        raise Rejected(_reject(ErrorCode.BAD_POLICY, "the genesis policy must name at least one founder", "7.2-b"))
    state = State(origin=stmt.origin, policy=stmt, size=0, last_logged_ms=0)
    if rejection := _check_council(state, entry):  # [7.2-g]
        raise Rejected(rejection)
    members: dict[MemberId, Member] = {}
    for founder in stmt.founders:  # [7.2-b] founders are verified from genesis
        members[founder] = Member(
            member_id=founder,
            key=founder,
            founder=True,
            commitment=None,
            declared_index=0,
            qualified=True,
            verified_since_ms=ctx.logged_ms,
            history=(0,),
        )
    return State(
        origin=stmt.origin,
        policy=stmt,
        size=1,
        last_logged_ms=ctx.logged_ms,
        members=immutables.Map(members),
        keys=immutables.Map({f: f for f in stmt.founders}),
        seen=immutables.Map({entry.entry.payload_hash: 0}),
        touched=frozenset(members),
    )
