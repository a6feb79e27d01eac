"""The membership state derived by replaying the log (protocol §7.3).

Frozen values only. The big maps are `immutables.Map` (a persistent hash array mapped trie), so that
advancing the state by one entry copies O(log n) nodes, not the whole registry. Nothing here is ever
stored as a mutable flag: every field is what the rules engine (`rules.py`) derived from the log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import immutables

from .statements import MemberId, PolicyStatement, Reason

__all__ = ["GivenVouch", "Member", "MemberView", "Revocation", "State", "Status", "VouchRecord"]

DAY_MS = 86_400_000


class Status(StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class VouchRecord:
    """A vouch received. `key` is the voucher's key that signed it; `voided_by` the index that voided it."""

    voucher: MemberId
    index: int
    logged_ms: int
    key: bytes
    voided_by: int | None = None


@dataclass(frozen=True, slots=True)
class GivenVouch:
    """The voucher's side of a vouch: whom, when (log time) and with which key."""

    subject: MemberId
    index: int
    logged_ms: int
    key: bytes


@dataclass(frozen=True, slots=True)
class Revocation:
    """A revocation in force. `struck` lists the vouchers it gave a strike (a fraud revocation, §7.6-j)."""

    reason: Reason
    index: int
    logged_ms: int
    struck: tuple[MemberId, ...] = ()


@dataclass(frozen=True, slots=True)
class Member:
    """One member as derived from the log.

    `qualified` is the underlying verification (a founder, or enough vouches that count); the
    displayed `status` adds revocation and suspension on top of it (protocol §7.3-a..d).
    """

    member_id: MemberId
    key: bytes
    founder: bool
    commitment: bytes | None
    declared_index: int
    qualified: bool = False
    verified_since_ms: int | None = None
    revocation: Revocation | None = None
    strikes: tuple[int, ...] = ()
    received: tuple[VouchRecord, ...] = ()
    given: tuple[GivenVouch, ...] = ()
    vouch_times_ms: tuple[int, ...] = ()
    activity_ms: tuple[int, ...] = ()
    history: tuple[int, ...] = ()

    def status(self, strike_limit: int) -> Status:
        if self.revocation is not None:
            return Status.REVOKED
        if len(self.strikes) >= strike_limit:
            return Status.SUSPENDED
        return Status.VERIFIED if self.qualified else Status.PENDING

    def active_received(self) -> tuple[VouchRecord, ...]:
        return tuple(v for v in self.received if v.voided_by is None)


@dataclass(frozen=True, slots=True)
class MemberView:
    """What `status` commands and the API show about a member: no personal data, only keys and counts."""

    member_id: MemberId
    key: bytes
    status: Status
    valid_vouches: int
    founder: bool
    commitment: bytes | None
    revocation_reason: Reason | None
    strikes: int
    history: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class State:
    """Everything the rules need, after `size` entries (protocol §7.3).

    Owner: only `rules.apply` builds a new State; nobody mutates one.
    """

    origin: str
    policy: PolicyStatement
    size: int
    last_logged_ms: int
    members: immutables.Map[MemberId, Member] = field(default_factory=immutables.Map)
    keys: immutables.Map[bytes, MemberId] = field(default_factory=immutables.Map)
    retired: immutables.Map[bytes, MemberId] = field(default_factory=immutables.Map)
    seen: immutables.Map[bytes, int] = field(default_factory=immutables.Map)
    pending_count: int = 0
    touched: frozenset[MemberId] = field(default=frozenset(), compare=False)
    """The members whose `Member` value or status the last applied entry may have changed (a superset;
    empty after a state leaf). Bookkeeping for the status tree (protocol §5.8), not part of the state's
    value: two states that differ only here are equal."""

    @property
    def strike_limit(self) -> int:
        return self.policy.params.strike_limit

    def member(self, member_id: bytes) -> Member | None:
        return self.members.get(MemberId(member_id))

    def member_by_key(self, key: bytes) -> Member | None:
        """The member whose *current* key is `key`."""
        member_id = self.keys.get(key)
        return None if member_id is None else self.members.get(member_id)

    def resolve(self, ident: bytes) -> Member | None:
        """A member by member id, or else by current or retired key."""
        found = self.members.get(MemberId(ident))
        if found is not None:
            return found
        member_id = self.keys.get(ident) or self.retired.get(ident)
        return None if member_id is None else self.members.get(member_id)

    def status_of(self, member: Member) -> Status:
        return member.status(self.strike_limit)

    def valid_vouches(self, member: Member) -> int:
        """Vouches that count now: not voided, not withdrawn, from a voucher still qualified (§7.3-b)."""
        count = 0
        for vouch in member.received:
            if vouch.voided_by is None:
                voucher = self.members.get(vouch.voucher)
                if voucher is not None and voucher.qualified:
                    count += 1
        return count

    def view(self, member: Member) -> MemberView:
        return MemberView(
            member.member_id,
            member.key,
            self.status_of(member),
            self.valid_vouches(member),
            member.founder,
            member.commitment,
            None if member.revocation is None else member.revocation.reason,
            len(member.strikes),
            member.history,
        )

    def counts(self) -> Mapping[str, int]:
        """Members per status, every status present (O(n): for reports, not for the rules)."""
        result = {str(s): 0 for s in Status}
        for member in self.members.values():
            result[str(self.status_of(member))] += 1
        return result
