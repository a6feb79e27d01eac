"""Sybil resistance figure: how many fake identities the membership rules let a ring verify in a year.

Issue 7, item 12. Exercises protocol §7.2 (the default parameters), §7.3 (sponsors), §7.4 (vouching),
§7.6 and §7.7 (fraud revocations, strikes, cascades) and §7.8 (flood limits); the figure is published in
docs/threat-model.md (§12 of the protocol points there).

Usage: python scripts/sybil.py [--a 1,2,5,10] [--honest 1000] [--days 365] [--max-fakes 10000]
                               [--detect P:D,...] [--seed S]

What is simulated, every statement through the real rules engine (`registry.rules.apply` on entries
signed and verified by `registry.statements`; a refused statement is counted by its code and never
written):

1. **The honest web.** A genesis policy with the default parameters (`Params()`: vouch threshold 2,
   voucher minimum age 30 days, 2 pending vouchees, 12 vouches a year, strike limit 2, sponsor required,
   20 statements a day), 10 founders and a council of 3 (threshold 2) that are not members. Over one year
   of log time the web grows evenly to `--honest` members: each newcomer is sponsored by one member who
   may vouch and verified by the vouch of a second; one newcomer in four gets a third vouch. The honest
   members pick their vouchers among those the public state says may vouch, so their statements pass.
2. **The attack**, during the year that follows. The attacker fools `a` honest members, chosen at random
   among those who may vouch: each signs whatever the attacker asks, as often as the rules let them.
   The attacker creates fake identities (a key and an opaque commitment each), and each fake, once
   verified, joins the ring of vouchers. Every day, each member of the ring (fooled members first, then
   fakes in the order they were verified) first vouches for the oldest pending fake it does not vouch
   for yet, and otherwise sponsors a new fake, until the engine refuses a statement. The attacker then
   reads the refusal as a member would and waits: until the voucher's 30 days are up
   (`voucher_too_new`), until its oldest vouch leaves the 365-day window (`quota_exceeded`), for good
   (`voucher_suspended`, `member_revoked`), or until the next day (anything else). No honest member
   acts during the attack. With `a = 0` the attacker can only submit declarations without a sponsor, or
   sponsored by a fake that is not a member, one of each a day.
3. **Detection** (further scenarios, `--detect P:D`): the council notices each fake, independently with
   probability P percent, D days after it is first verified, and revokes it for `fraud` with an
   evidence hash. The engine then voids the vouches the fake gave, strikes its vouchers
   (a second strike suspends them) and recomputes everyone downstream (§7.6-h, §7.6-j, §7.7).

The attacker keeps at most `--max-fakes` fakes alive (declared and not revoked; a revoked fake is
replaced): without that cap the ring would grow for as long as the computer lasts, since the rules allow
it to multiply about sixfold every 30 days (`rules_bound`). The table says on which day the cap was
reached, and next to each count of verified fakes, the bound that the rules alone put on it (without
revocations). Everything is
deterministic for a seed: keys are `SigningKey.from_seed(SHA-256(seed | role | n))` and every choice
comes from `random.Random` seeded from `--seed`. Log time advances one millisecond per statement
within a day.

The output is one table per scenario (fakes verified after 30, 90, 180 and 365 days of attack, fakes
pending, suspended and revoked at the end, the day the cap was reached, the fooled members suspended,
and the statements refused by code), then one `name=value` line per headline figure.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.resources
import random
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from crypto.keys import SigningKey
from crypto.smt import SparseMerkleTree
from registry.errors import ErrorCode, Rejected, Rejection
from registry.rules import YEAR_MS, Context, apply, genesis
from registry.state import DAY_MS, Member, State, Status
from registry.statements import (
    Declare,
    MemberId,
    Params,
    PolicyStatement,
    Reason,
    Revoke,
    Statement,
    Vouch,
    declaration_hash,
    entry_from_statement,
    format_leaf,
    sign_entry,
    verify_entry,
)
from registry.statetree import StateLeaf, advance_status_tree, apply_state_leaf, format_state_leaf

__all__ = [
    "ORIGIN",
    "SNAPSHOT_DAYS",
    "T0_MS",
    "Config",
    "Result",
    "format_table",
    "main",
    "rules_bound",
    "simulate",
]

ORIGIN: Final = "sybil.example/sim"
T0_MS: Final = 1_700_000_000_000
SNAPSHOT_DAYS: Final = (30, 90, 180, 365)
COUNCIL_SIZE: Final = 3
COUNCIL_THRESHOLD: Final = 2
_MAX_BACKOFF_DAYS: Final = 32


def _shipped_declarations() -> dict[str, str]:
    folder = importlib.resources.files("registry") / "declarations"
    return {lang: (folder / f"{lang}.txt").read_text(encoding="utf-8") for lang in ("en", "ru")}


@dataclass(frozen=True, slots=True)
class Config:
    """One run: the honest web, the attacker's reach `a`, and the council's detection (0 = none)."""

    a: int
    honest: int = 1000
    founders: int = 10
    build_days: int = 365
    days: int = 365
    max_fakes: int = 10_000
    detect_percent: int = 0
    detect_delay_days: int = 30
    extra_vouch_percent: int = 25
    seed: bytes = b"sybil figure"
    params: Params = field(default_factory=Params)
    track_daily: bool = False


@dataclass(frozen=True, slots=True)
class Result:
    """What a run produced. `leaves` is the whole log, genesis first; `state` the state after it."""

    config: Config
    fakes_declared: int
    fakes_by_status: Mapping[str, int]
    verified_on_day: Mapping[int, int]
    cap_day: int | None
    refused: Mapping[str, int]
    honest_refused: Mapping[str, int]
    fooled: tuple[MemberId, ...]
    fooled_suspended: int
    honest_verified_at_attack: int
    honest_not_verified_at_end: int
    accepted_attack_statements: int
    detected: int
    fakes: tuple[MemberId, ...]
    leaves: tuple[bytes, ...]
    state: State
    daily_verified: tuple[int, ...]
    attack_start_ms: int

    @property
    def fakes_verified(self) -> int:
        return self.fakes_by_status.get(str(Status.VERIFIED), 0)


def rules_bound(a: int, params: Params, days: int) -> tuple[int, ...]:
    """An upper bound on fakes verified by the end of each attack day, from §7.3 and §7.4 alone.

    With no revocation a verified fake stays verified. Each verified fake holds `vouch_threshold` vouches
    from distinct vouchers (its sponsor's included, §7.3-j). Within one attack shorter than 365 days a
    fooled member gives fakes at most `vouch_quota` vouches (§7.4-g), and a fake verified by the end of
    day d may vouch from day d + `voucher_min_age_days` on (§7.4-f), at most `vouch_quota` times. Hence
    V(d) <= (a * quota + quota * V(d - min_age)) // threshold, and V(d) = 0 while a < threshold and no
    fake is verified (nobody has two independent vouchers). Requires 1 <= days <= 365 and
    voucher_min_age_days >= 1 (with no minimum age a fake vouches at once, and nothing is bounded).
    """
    quota, threshold, age = params.vouch_quota, params.vouch_threshold, params.voucher_min_age_days
    if age < 1 or not 1 <= days <= 365:
        raise ValueError("the bound needs voucher_min_age_days >= 1 and an attack of 1 to 365 days")
    bound: list[int] = []
    for day in range(days):
        older = bound[day - age] if day >= age else 0
        bound.append(0 if a < threshold and older == 0 else (a * quota + quota * older) // threshold)
    return tuple(bound)


class _Sim:
    """The log in memory: state, leaves and log time. Owner: one call of `simulate`; never escapes it.

    Each accepted statement is a batch of one, closed by its state leaf (protocol §5.8-i), since the log
    time moves on with every statement and every leaf of a batch carries one log time (§5.6-j)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.params = config.params
        self.seed = config.seed
        self.rng = random.Random(hashlib.sha256(b"choices|" + config.seed).digest())
        self.detect_rng = random.Random(hashlib.sha256(b"detection|" + config.seed).digest())
        self.now_ms = T0_MS
        self.leaves: list[bytes] = []
        self.keys: dict[MemberId, SigningKey] = {}
        self.refused: Counter[str] = Counter()
        self.accepted = 0
        self.council = [self.key("council", i) for i in range(COUNCIL_SIZE)]
        self.declarations = _shipped_declarations()
        self.declaration = declaration_hash(self.declarations["ru"])
        self.founders = [self.key("founder", i) for i in range(config.founders)]
        for k in self.founders:
            self.keys[MemberId(k.public_key)] = k
        policy = PolicyStatement(
            origin=ORIGIN,
            created_ms=self.now_ms,
            version=0,
            founders=tuple(sorted(MemberId(k.public_key) for k in self.founders)),
            council=tuple(sorted(k.public_key for k in self.council)),
            threshold=COUNCIL_THRESHOLD,
            declarations=self.declarations,
            params=self.params,
        )
        entry = entry_from_statement(policy)
        for k in sorted(self.council, key=lambda c: c.public_key)[:COUNCIL_THRESHOLD]:
            entry = sign_entry(entry, k)
        self.state = genesis(verify_entry(entry, ORIGIN), Context(0, self.now_ms))
        self.leaves.append(format_leaf(0, self.now_ms, entry))
        self.tree = advance_status_tree(SparseMerkleTree(), self.state, self.state.touched, 0)
        self.seal()
        self.now_ms += 1

    def seal(self) -> None:
        """Close the batch: a state leaf at the batch's log time, with the status tree root."""
        leaf = StateLeaf(self.state.size, self.state.last_logged_ms, self.tree.root)
        self.state = apply_state_leaf(self.state, leaf, self.tree)
        self.leaves.append(format_state_leaf(leaf))

    def key(self, role: str, n: int) -> SigningKey:
        return SigningKey.from_seed(hashlib.sha256(b"%b|%b|%d" % (self.seed, role.encode(), n)).digest())

    def at_day(self, start_ms: int) -> None:
        self.now_ms = max(self.now_ms, start_ms)

    def submit(self, statement: Statement, *signers: SigningKey) -> Rejection | None:
        """Sign, verify and apply one statement at the current log time; count a refusal by its code."""
        entry = entry_from_statement(statement)
        for k in signers:
            entry = sign_entry(entry, k)
        ctx = Context(self.state.size, self.now_ms)
        self.now_ms += 1
        try:
            self.state = apply(self.state, verify_entry(entry, ORIGIN), ctx)
        except Rejected as exc:
            self.refused[str(exc.rejection.code)] += 1
            return exc.rejection
        self.leaves.append(format_leaf(ctx.index, ctx.logged_ms, entry))
        self.tree = advance_status_tree(self.tree, self.state, self.state.touched, ctx.index)
        self.seal()
        self.accepted += 1
        return None

    def member(self, member_id: MemberId) -> Member:
        return self.state.members[member_id]

    def status(self, member_id: MemberId) -> Status:
        return self.state.status_of(self.state.members[member_id])

    def may_vouch(self, member_id: MemberId) -> bool:
        """What the public state says about whether a member may vouch now (honest members ask this)."""
        m = self.member(member_id)
        if self.state.status_of(m) is not Status.VERIFIED:
            return False
        since = m.verified_since_ms if m.verified_since_ms is not None else self.now_ms
        if not m.founder and self.now_ms - since < self.params.voucher_min_age_days * DAY_MS:
            return False
        if sum(1 for t in m.vouch_times_ms if t > self.now_ms - YEAR_MS) >= self.params.vouch_quota:
            return False
        if sum(1 for t in m.activity_ms if t > self.now_ms - DAY_MS) >= self.params.rate_limit_per_day:
            return False
        pending = sum(
            1 for g in m.given if (s := self.state.members.get(g.subject)) is not None and self.state.status_of(s)
            is Status.PENDING
        )
        return pending < self.params.max_pending_vouchees

    def vouchers_of(self, member_id: MemberId) -> frozenset[MemberId]:
        return frozenset(v.voucher for v in self.member(member_id).received if v.voided_by is None)

    def commitment(self, role: str, n: int) -> bytes:
        return hashlib.sha256(b"%b|%b identity|%d" % (self.seed, role.encode(), n)).digest()


def _pick(sim: _Sim, pool: Sequence[MemberId], exclude: frozenset[MemberId]) -> MemberId | None:
    """A random member of `pool` who may vouch: a few random tries, then a full scan in random order."""
    for _ in range(32):
        candidate = pool[sim.rng.randrange(len(pool))]
        if candidate not in exclude and sim.may_vouch(candidate):
            return candidate
    order = list(pool)
    sim.rng.shuffle(order)
    return next((c for c in order if c not in exclude and sim.may_vouch(c)), None)


def _build_honest(sim: _Sim) -> list[MemberId]:
    """Grow the honest web evenly to `config.honest` members over `config.build_days` of log time."""
    config = sim.config
    honest = [MemberId(k.public_key) for k in sim.founders]
    joined = len(honest)
    for day in range(config.build_days):
        sim.at_day(T0_MS + day * DAY_MS)
        target = config.founders + (config.honest - config.founders) * (day + 1) // config.build_days
        while len(honest) < target:
            sponsor = _pick(sim, honest, frozenset())
            if sponsor is None:
                break
            second = _pick(sim, honest, frozenset({sponsor}))
            if second is None:
                break
            newcomer = sim.key("honest", joined)
            new_id = MemberId(newcomer.public_key)
            commitment = sim.commitment("honest", joined)
            joined += 1
            declare = Declare(ORIGIN, sim.now_ms, new_id, sim.declaration, commitment, sponsor)
            if sim.submit(declare, newcomer, sim.keys[sponsor]) is not None:
                continue
            sim.keys[new_id] = newcomer
            honest.append(new_id)
            sim.submit(Vouch(ORIGIN, sim.now_ms, second, new_id, commitment), sim.keys[second], newcomer)
            if sim.rng.randrange(100) < config.extra_vouch_percent:
                third = _pick(sim, honest, frozenset({sponsor, second, new_id}))
                if third is not None:
                    sim.submit(Vouch(ORIGIN, sim.now_ms, third, new_id, commitment), sim.keys[third], newcomer)
    return honest


@dataclass
class _Attacker:
    """The attacker's bookkeeping. Owner: `_attack`; only public information goes in."""

    fooled: list[MemberId]
    ring: list[MemberId] = field(default_factory=list)
    in_ring: set[MemberId] = field(default_factory=set)
    ready_ms: dict[MemberId, int] = field(default_factory=dict)
    backoff_days: dict[MemberId, int] = field(default_factory=dict)
    retired: set[MemberId] = field(default_factory=set)
    fakes: list[MemberId] = field(default_factory=list)
    keys_made: int = 0
    revoked: int = 0
    never_verified: dict[MemberId, None] = field(default_factory=dict)
    revoke_at: list[tuple[int, MemberId]] = field(default_factory=list)
    detected: int = 0
    cap_day: int | None = None

    def live(self) -> int:
        """Fakes declared and not revoked: what the cap counts (a revoked fake is replaced)."""
        return len(self.fakes) - self.revoked

    def join_ring(self, member_id: MemberId, now_ms: int) -> None:
        if member_id not in self.in_ring:
            self.in_ring.add(member_id)
            self.ring.append(member_id)
            self.ready_ms[member_id] = now_ms


def _wait_after(sim: _Sim, att: _Attacker, actor: MemberId, rejection: Rejection, next_day_ms: int) -> None:
    """Read a refusal as a member would, and decide when this voucher tries again."""
    code = rejection.code
    m = sim.member(actor)
    if code in (ErrorCode.VOUCHER_SUSPENDED, ErrorCode.MEMBER_REVOKED):
        att.retired.add(actor)
        return
    if code is ErrorCode.VOUCHER_TOO_NEW and m.verified_since_ms is not None:
        att.ready_ms[actor] = m.verified_since_ms + sim.params.voucher_min_age_days * DAY_MS
        return
    if code is ErrorCode.QUOTA_EXCEEDED:
        window = [t for t in m.vouch_times_ms if t > sim.now_ms - YEAR_MS]
        if window:
            att.ready_ms[actor] = min(window) + YEAR_MS + 1
            return
    if code is ErrorCode.VOUCHER_NOT_VERIFIED:
        days = min(att.backoff_days.get(actor, 1), _MAX_BACKOFF_DAYS)
        att.backoff_days[actor] = days * 2
        att.ready_ms[actor] = next_day_ms + (days - 1) * DAY_MS
        return
    att.ready_ms[actor] = next_day_ms


def _new_fake(sim: _Sim, att: _Attacker) -> tuple[SigningKey, MemberId, bytes]:
    """A fresh fake identity; keys are never reused, even after a refusal."""
    n = att.keys_made
    att.keys_made += 1
    k = sim.key("fake", n)
    return k, MemberId(k.public_key), sim.commitment("fake", n)


def _act(sim: _Sim, att: _Attacker, actor: MemberId, needs: list[MemberId], day: int, next_day_ms: int) -> None:
    """One member of the ring acts until the engine refuses one of its statements."""
    config = sim.config
    while True:
        given = {g.subject for g in sim.member(actor).given}
        target = next((f for f in needs if f != actor and f not in given), None)
        if target is not None:
            fake_key = sim.keys[target]
            statement: Statement = Vouch(ORIGIN, sim.now_ms, actor, target, sim.member(target).commitment)
            rejection = sim.submit(statement, sim.keys[actor], fake_key)
            if rejection is None:
                if sim.status(target) is not Status.PENDING:
                    needs.remove(target)
                    if sim.status(target) is Status.VERIFIED:
                        att.join_ring(target, sim.now_ms)
                continue
        elif att.live() < config.max_fakes:
            fake_key, fake_id, commitment = _new_fake(sim, att)
            statement = Declare(ORIGIN, sim.now_ms, fake_id, sim.declaration, commitment, actor)
            rejection = sim.submit(statement, fake_key, sim.keys[actor])
            if rejection is None:
                att.fakes.append(fake_id)
                att.never_verified[fake_id] = None
                sim.keys[fake_id] = fake_key
                if att.live() >= config.max_fakes and att.cap_day is None:
                    att.cap_day = day
                if sim.status(fake_id) is Status.PENDING:
                    needs.append(fake_id)
                else:
                    att.join_ring(fake_id, sim.now_ms)
                continue
        else:
            att.ready_ms[actor] = next_day_ms
            return
        _wait_after(sim, att, actor, rejection, next_day_ms)
        return


def _unanchored_attempts(sim: _Sim, att: _Attacker) -> None:
    """With nobody fooled: a declaration without a sponsor, and one sponsored by a fake non-member."""
    fake_key, fake_id, commitment = _new_fake(sim, att)
    sim.submit(Declare(ORIGIN, sim.now_ms, fake_id, sim.declaration, commitment, None), fake_key)
    sponsor_key, sponsor_id, _ = _new_fake(sim, att)
    sim.submit(Declare(ORIGIN, sim.now_ms, fake_id, sim.declaration, commitment, sponsor_id), fake_key, sponsor_key)


def _end_of_day(sim: _Sim, att: _Attacker) -> None:
    """Fakes verified for the first time today join the ring; the council may have noticed them."""
    config = sim.config
    for fake in list(att.never_verified):
        m = sim.member(fake)
        if sim.state.status_of(m) is not Status.VERIFIED or m.verified_since_ms is None:
            continue
        del att.never_verified[fake]
        att.join_ring(fake, sim.now_ms)
        if config.detect_percent and sim.detect_rng.randrange(100) < config.detect_percent:
            att.revoke_at.append((m.verified_since_ms + config.detect_delay_days * DAY_MS, fake))
            att.detected += 1


def _council_revocations(sim: _Sim, att: _Attacker, until_ms: int) -> bool:
    """Revoke for fraud every detected fake whose time has come; True if any was revoked."""
    due = sorted(item for item in att.revoke_at if item[0] <= until_ms)
    att.revoke_at = [item for item in att.revoke_at if item[0] > until_ms]
    signers = sorted(sim.council, key=lambda c: c.public_key)[:COUNCIL_THRESHOLD]
    for _, fake in due:
        evidence = hashlib.sha256(b"evidence of fraud|" + fake).digest()
        if sim.submit(Revoke(ORIGIN, sim.now_ms, fake, Reason.FRAUD, evidence), *signers) is None:
            att.revoked += 1
    return bool(due)


def _count_fakes(sim: _Sim, fakes: Sequence[MemberId]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for fake in fakes:
        m = sim.state.members.get(fake)
        if m is not None:
            counts[str(sim.state.status_of(m))] += 1
    return counts


def _attack(sim: _Sim, honest: list[MemberId]) -> tuple[_Attacker, dict[int, int], list[int], int]:
    config = sim.config
    start_ms = T0_MS + config.build_days * DAY_MS
    sim.at_day(start_ms)
    candidates = [m for m in honest if sim.may_vouch(m)]
    fooled = sorted(sim.rng.sample(candidates, min(config.a, len(candidates))))
    att = _Attacker(fooled=fooled)
    for m in fooled:
        att.join_ring(m, start_ms)
    snapshots: dict[int, int] = {}
    daily: list[int] = []
    needs: list[MemberId] = []
    for day in range(config.days):
        day_ms = start_ms + day * DAY_MS
        next_day_ms = day_ms + DAY_MS
        sim.at_day(day_ms)
        if _council_revocations(sim, att, day_ms):
            # a revocation can demote fakes anywhere downstream (§7.7): look at all of them again
            needs = [f for f in att.fakes if f in sim.state.members and sim.status(f) is Status.PENDING]
        else:  # otherwise only fakes declared and not yet verified are pending
            needs = [f for f in needs if sim.status(f) is Status.PENDING]
        if not fooled:
            _unanchored_attempts(sim, att)
        position = 0
        while position < len(att.ring):  # the ring grows while it acts; newcomers act the same day
            if not needs and att.live() >= config.max_fakes:
                break  # nothing left to ask of anyone today
            actor = att.ring[position]
            position += 1
            if actor not in att.retired and att.ready_ms[actor] <= sim.now_ms:
                _act(sim, att, actor, needs, day, next_day_ms)
        _end_of_day(sim, att)
        if config.track_daily or day + 1 in SNAPSHOT_DAYS:
            verified = _count_fakes(sim, att.fakes)[str(Status.VERIFIED)]
            daily.append(verified)
            if day + 1 in SNAPSHOT_DAYS:
                snapshots[day + 1] = verified
    return att, snapshots, daily, start_ms


def simulate(config: Config) -> Result:
    """Build the honest web, run the attack for `config.days`, and report (deterministic for a config)."""
    sim = _Sim(config)
    honest = _build_honest(sim)
    honest_refused = Counter(sim.refused)
    sim.refused.clear()
    accepted_before = sim.accepted
    honest_verified = sum(1 for m in honest if sim.status(m) is Status.VERIFIED)
    att, snapshots, daily, start_ms = _attack(sim, honest)
    fakes = tuple(att.fakes)
    return Result(
        config=config,
        fakes_declared=len(fakes),
        fakes_by_status=dict(_count_fakes(sim, fakes)),
        verified_on_day=snapshots,
        cap_day=att.cap_day,
        refused=dict(sorted(sim.refused.items())),
        honest_refused=dict(sorted(honest_refused.items())),
        fooled=tuple(att.fooled),
        fooled_suspended=sum(1 for m in att.fooled if sim.status(m) is Status.SUSPENDED),
        honest_verified_at_attack=honest_verified,
        honest_not_verified_at_end=sum(1 for m in honest if sim.status(m) is not Status.VERIFIED),
        accepted_attack_statements=sim.accepted - accepted_before,
        detected=att.detected,
        fakes=fakes,
        leaves=tuple(sim.leaves),
        state=sim.state,
        daily_verified=tuple(daily),
        attack_start_ms=start_ms,
    )


def _refused_text(refused: Mapping[str, int]) -> str:
    return ", ".join(f"{code} {n:,}" for code, n in sorted(refused.items(), key=lambda kv: (-kv[1], kv[0]))) or "-"


def format_table(results: Sequence[Result]) -> str:
    """A Markdown table, one row per run (all runs of one length of attack)."""
    days = results[0].config.days if results else 0
    head = [
        "a",
        *(f"verified d{d}" for d in SNAPSHOT_DAYS if d <= days),
        "pending",
        "suspended",
        "revoked",
        "cap reached",
        "fooled suspended",
        "accepted",
        "refused by code",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" for _ in head[:-1]) + "|---|"]
    for r in results:
        by = r.fakes_by_status
        cap = "-" if r.cap_day is None else f"day {r.cap_day + 1}"
        bound: tuple[int, ...] = ()
        if not r.config.detect_percent and 1 <= r.config.days <= 365:
            bound = rules_bound(r.config.a, r.config.params, r.config.days)

        def verified(day: int, bound: tuple[int, ...] = bound, r: Result = r) -> str:
            count = f"{r.verified_on_day.get(day, 0):,}"
            return f"{count} (≤ {bound[day - 1]:,})" if day <= len(bound) else count

        cells = [
            str(r.config.a),
            *(verified(d) for d in SNAPSHOT_DAYS if d <= r.config.days),
            f"{by.get('pending', 0):,}",
            f"{by.get('suspended', 0):,}",
            f"{by.get('revoked', 0):,}",
            cap,
            f"{r.fooled_suspended}/{len(r.fooled)}",
            f"{r.accepted_attack_statements:,}",
            _refused_text(r.refused),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--a", default="1,2,5,10", help="fooled honest members, comma-separated (default 1,2,5,10)")
    parser.add_argument("--honest", type=int, default=1000, help="honest members, founders included (default 1000)")
    parser.add_argument("--founders", type=int, default=10)
    parser.add_argument("--days", type=int, default=365, help="days of attack (default 365)")
    parser.add_argument("--max-fakes", type=int, default=10_000, help="fakes the attacker declares at most")
    parser.add_argument("--detect", default="50:60,75:14,90:45",
                        help="further scenarios, comma-separated PERCENT:DAYS: the council revokes PERCENT of fakes "
                             "for fraud DAYS after they are verified ('' for none; default 50:60,75:14,90:45)")
    parser.add_argument("--seed", default="sybil figure")
    args = parser.parse_args(argv)
    reach = [int(x) for x in args.a.split(",") if x.strip()]
    seed = args.seed.encode()
    base = Config(a=0, honest=args.honest, founders=args.founders, days=args.days, max_fakes=args.max_fakes,
                  seed=seed)
    scenarios: list[tuple[str, str, int, int]] = [("none", "no detection", 0, 0)]
    for item in (x.strip() for x in args.detect.split(",")):
        if item:
            percent, _, delay = item.partition(":")
            scenarios.append((f"detect{int(percent)}_{int(delay)}d",
                              f"the council revokes {int(percent)}% of fakes for fraud {int(delay)} days after "
                              "they are verified", int(percent), int(delay)))
    p = base.params
    print(f"policy: vouch_threshold {p.vouch_threshold}, voucher_min_age_days {p.voucher_min_age_days}, "
          f"max_pending_vouchees {p.max_pending_vouchees}, vouch_quota {p.vouch_quota}, strike_limit "
          f"{p.strike_limit}, sponsor_required {str(p.sponsor_required).lower()}, max_pending_members "
          f"{p.max_pending_members}, rate_limit_per_day {p.rate_limit_per_day}")
    print(f"honest web: {args.honest} members ({args.founders} founders) grown over 365 days; attack: {args.days} "
          f"days; the attacker keeps at most {args.max_fakes:,} fakes alive; seed {args.seed!r}")
    print("verified dN: fakes verified after N days of attack (in brackets: the most §7.3-§7.4 allow, rules_bound)")
    headline: list[str] = []
    for name, title, percent, delay in scenarios:
        results = []
        for a in reach:
            started = time.perf_counter()
            config = Config(a=a, honest=base.honest, founders=base.founders, days=base.days,
                            max_fakes=base.max_fakes, seed=seed, detect_percent=percent, detect_delay_days=delay)
            result = simulate(config)
            results.append(result)
            print(f"  [{name} a={a}] {len(result.leaves):,} leaves in the log, honest verified at the attack "
                  f"{result.honest_verified_at_attack:,}, detected {result.detected:,}, "
                  f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
            headline.append(f"sybil_{name}_verified_a{a}={result.fakes_verified}")
        print(f"\nscenario {name}: {title}")
        print(format_table(results))
    print()
    for line in headline:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
