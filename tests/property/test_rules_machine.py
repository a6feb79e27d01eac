"""The rules engine against a naive, independent model (protocol §7), step by step.

The model keeps plain dicts and recomputes qualification globally after each event: removing members
that no longer hold enough vouches until nothing changes (after an event that can only take vouches
away), or adding members that now hold enough (after one that can only add them). The engine does the
same work incrementally. After every step the two must agree on acceptance and on every status.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from registry.replay import replay
from registry.statements import MemberId, Params, Reason
from tests.factory import Log, key

THRESHOLD = 2
PARAMS = Params(
    vouch_threshold=THRESHOLD,
    voucher_min_age_days=0,
    max_pending_vouchees=1000,
    vouch_quota=1000,
    strike_limit=2,
    rate_limit_per_day=100_000,
)
POOL = 10  # candidate member keys key(11)..key(20); rotation keys key(200+)


@dataclass
class ModelMember:
    key: int
    founder: bool
    revoked: Reason | None = None
    revoked_at: int | None = None
    strikes: set[int] = field(default_factory=set)


@dataclass
class Model:
    members: dict[int, ModelMember] = field(default_factory=dict)  # by original key number
    vouches: dict[tuple[int, int], int | None] = field(default_factory=dict)  # (voucher, subject) -> voided_by
    vouch_keys: dict[tuple[int, int], int] = field(default_factory=dict)
    qualified: set[int] = field(default_factory=set)
    retired: set[int] = field(default_factory=set)

    def count(self, m: int) -> int:
        return sum(1 for (v, s), voided in self.vouches.items() if s == m and voided is None and v in self.qualified)

    def ok(self, m: int) -> bool:
        return self.members[m].founder or self.count(m) >= THRESHOLD

    def demote(self) -> None:
        changed = True
        while changed:
            changed = False
            for m in sorted(self.qualified):
                if not self.ok(m):
                    self.qualified.discard(m)
                    changed = True

    def promote(self) -> None:
        changed = True
        while changed:
            changed = False
            for m in sorted(self.members):
                if m not in self.qualified and self.ok(m):
                    self.qualified.add(m)
                    changed = True

    def status(self, m: int) -> str:
        member = self.members[m]
        if member.revoked is not None:
            return "revoked"
        if len(member.strikes) >= PARAMS.strike_limit:
            return "suspended"
        return "verified" if m in self.qualified else "pending"


class RulesMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.log = Log(founders=[key(1), key(2)], council=[key(101), key(102), key(103)], params=PARAMS)
        self.model = Model()
        for f in (1, 2):
            self.model.members[f] = ModelMember(key=f, founder=True)
            self.model.qualified.add(f)
        self.step = 0
        self.next_rotation = 200

    def _k(self, n: int) -> int:
        return self.model.members[n].key

    def _submit(self, entry: object, expect_ok: bool) -> bool:
        rejection = self.log.try_submit(entry)  # type: ignore[arg-type]
        accepted = rejection is None
        assert accepted == expect_ok, f"engine said {rejection}, model expected accepted={expect_ok}"
        return accepted

    def _member_numbers(self) -> list[int]:
        return sorted(self.model.members)

    def _verified(self) -> list[int]:
        return [n for n in self._member_numbers() if self.model.status(n) == "verified"]

    @rule(n=st.integers(11, 10 + POOL), s=st.integers(0, 40), any_sponsor=st.booleans())
    def declare(self, n: int, s: int, any_sponsor: bool) -> None:
        m = self.model
        candidates = self._member_numbers() if any_sponsor else self._verified()
        if not candidates:
            return
        sponsor = candidates[s % len(candidates)]
        if n == sponsor or (sponsor, n) in m.vouches:
            return
        expect = n not in m.members and n not in m.retired and m.status(sponsor) == "verified"
        entry = self.log.declare(key(n), key(self._k(sponsor)))
        if self._submit(entry, expect):
            m.members[n] = ModelMember(key=n, founder=False)
            m.vouches[(sponsor, n)] = None
            m.vouch_keys[(sponsor, n)] = self._k(sponsor)
            m.promote()

    @rule(v=st.integers(0, 40), s=st.integers(0, 40), any_voucher=st.booleans())
    def vouch(self, v: int, s: int, any_voucher: bool) -> None:
        m = self.model
        names = self._member_numbers()
        vouchers = names if any_voucher else (self._verified() or names)
        voucher, subject = vouchers[v % len(vouchers)], names[s % len(names)]
        if voucher == subject:
            return
        expect = (
            m.status(voucher) == "verified"
            and m.members[subject].revoked is None
            and m.vouches.get((voucher, subject), "absent") != None  # noqa: E711 (no vouch in force)
        )
        entry = self.log.vouch(key(self._k(voucher)), key(self._k(subject)))
        if self._submit(entry, expect):
            m.vouches[(voucher, subject)] = None
            m.vouch_keys[(voucher, subject)] = self._k(voucher)
            m.promote()

    @rule(i=st.integers(0, 200))
    def unvouch(self, i: int) -> None:
        m = self.model
        active = sorted(k for k, voided in m.vouches.items() if voided is None)
        if not active:
            return
        voucher, subject = active[i % len(active)]
        expect = m.members[voucher].revoked is None
        entry = self.log.unvouch(key(self._k(voucher)), key(self._k(subject)))
        if self._submit(entry, expect):
            del m.vouches[(voucher, subject)]
            m.demote()

    @rule(i=st.integers(0, 40), reason=st.sampled_from(list(Reason)), any_target=st.booleans())
    def revoke(self, i: int, reason: Reason, any_target: bool) -> None:
        m = self.model
        names = self._member_numbers()
        if not any_target:
            names = [n for n in names if m.members[n].revoked is None and not m.members[n].founder] or names
        target = names[i % len(names)]
        member = m.members[target]
        expect = member.revoked is None
        if reason.by_council:
            entry = self.log.council_revoke(key(self._k(target)), reason)
        else:
            entry = self.log.revoke_self(key(self._k(target)), reason)
        if not self._submit(entry, expect):
            return
        index = self.log.state.size - 1
        member.revoked, member.revoked_at = reason, index
        if reason in (Reason.FRAUD, Reason.KEY_COMPROMISED):
            for (v, s), voided in list(m.vouches.items()):
                if v == target and voided is None and (reason is Reason.FRAUD or m.vouch_keys[(v, s)] == member.key):
                    m.vouches[(v, s)] = index
        if reason is Reason.FRAUD:
            for (v, s), voided in m.vouches.items():
                if s == target and voided is None:
                    m.members[v].strikes.add(index)
        m.demote()

    @rule(i=st.integers(0, 40), any_target=st.booleans())
    def reinstate(self, i: int, any_target: bool) -> None:
        m = self.model
        names = self._member_numbers()
        if not any_target:
            names = [n for n in names if (r := m.members[n].revoked) is not None and r.by_council] or names
        target = names[i % len(names)]
        member = m.members[target]
        expect = member.revoked is not None and member.revoked.by_council
        if not self._submit(self.log.reinstate(key(self._k(target))), expect):
            return
        at = member.revoked_at
        member.revoked = member.revoked_at = None
        for pair, voided in list(m.vouches.items()):
            if pair[0] == target and voided == at:
                m.vouches[pair] = None
        for other in m.members.values():
            other.strikes.discard(at)
        m.promote()

    @precondition(lambda self: self.next_rotation < 210)
    @rule(i=st.integers(0, 40))
    def rotate(self, i: int) -> None:
        m = self.model
        names = self._member_numbers()
        target = names[i % len(names)]
        member = m.members[target]
        expect = member.revoked is None
        new = self.next_rotation
        if self._submit(self.log.rotate(key(member.key), key(new)), expect):
            m.retired.add(member.key)
            member.key = new
            self.next_rotation += 1

    @invariant()
    def statuses_agree(self) -> None:
        state = self.log.state
        pending = 0
        for n, mm in self.model.members.items():
            engine = state.member(key(n).public_key if n < 200 else b"")
            assert engine is not None
            assert str(state.status_of(engine)) == self.model.status(n), f"member {n}"
            assert engine.key == key(mm.key).public_key
            assert state.valid_vouches(engine) == self.model.count(n)
            assert set(engine.strikes) == mm.strikes
            pending += self.model.status(n) == "pending"
        assert state.pending_count == pending
        assert len(state.members) == len(self.model.members)
        for k, member_id in state.keys.items():
            assert state.members[MemberId(member_id)].key == k
            assert k not in state.retired


TestRulesMachine = RulesMachine.TestCase
TestRulesMachine.settings = settings(max_examples=80, stateful_step_count=80, deadline=None)


@pytest.mark.spec("8.2-e")
def test_replay_is_deterministic_wherever_split() -> None:
    """The same leaves give the same state, whether replayed at once or resumed from any split point."""
    log = Log(founders=[key(1), key(2)], council=[key(101), key(102), key(103)], params=PARAMS)
    for n in range(11, 17):
        log.join(key(n), key(1), key(2))
    log.submit(log.council_revoke(key(11)))
    log.submit(log.rotate(key(12), key(200)))
    log.submit(log.unvouch(key(2), key(13)))
    log.submit(log.reinstate(key(11)))
    whole = replay(log.leaves)
    assert whole == log.state
    for split in range(1, len(log.leaves)):
        resumed = replay(log.leaves[split:], replay(log.leaves[:split]))
        assert resumed == whole
