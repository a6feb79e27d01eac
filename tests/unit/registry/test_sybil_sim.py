"""The Sybil simulation of scripts/sybil.py, small: what the membership rules let a ring of fakes do.

Each run builds a small honest web and a ring of fakes through the real rules engine (protocol §7), so
these tests check the rules themselves: nothing enters without a fooled member, one fooled member is
not enough, the ring never outgrows what the vouching rules allow, fraud revocations strike the fooled
members, and the log the simulation wrote replays to the same statuses.
"""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from registry.replay import replay
from registry.state import Status
from registry.statements import MemberId, Params

ROOT = Path(__file__).resolve().parents[3]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sybil", ROOT / "scripts" / "sybil.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("sybil", module)
    spec.loader.exec_module(module)
    return module


sybil = _load()
DAYS = 100
SMALL: dict[str, Any] = {"honest": 40, "founders": 4, "build_days": 60, "days": DAYS, "max_fakes": 120,
                         "track_daily": True, "seed": b"test sybil"}


@cache
def _run(a: int, detect_percent: int = 0, detect_delay_days: int = 30) -> Any:
    return sybil.simulate(sybil.Config(a=a, detect_percent=detect_percent, detect_delay_days=detect_delay_days,
                                       **SMALL))


def _honest_ids(result: Any) -> set[MemberId]:
    return set(result.state.members) - set(result.fakes)


@pytest.mark.spec("7.3-h")
@pytest.mark.spec("7.3-e")
def test_no_fake_enters_without_a_fooled_member() -> None:
    result = _run(0)
    assert result.fakes == ()
    assert len(result.state.members) == SMALL["honest"]
    # one unsponsored declaration and one sponsored by a fake non-member a day, all refused
    assert result.refused == {"sponsor_required": DAYS, "unknown_member": DAYS}
    assert result.accepted_attack_statements == 0


@pytest.mark.spec("7.3-a")
@pytest.mark.spec("7.4-h")
def test_one_fooled_member_verifies_no_fake() -> None:
    result = _run(1)
    params = Params()
    assert len(result.fooled) == 1
    assert set(result.daily_verified) == {0}
    assert result.fakes_verified == 0
    assert result.fakes_by_status == {"pending": params.max_pending_vouchees}
    assert result.refused.get("too_many_pending", 0) == DAYS


@pytest.mark.spec("7.4-f")
@pytest.mark.spec("7.4-g")
@pytest.mark.parametrize("a", [2, 3])
def test_verified_fakes_never_exceed_what_the_vouch_rules_allow(a: int) -> None:
    result = _run(a)
    bound = sybil.rules_bound(a, Params(), DAYS)
    assert len(result.daily_verified) == DAYS
    over = [(day, n, bound[day]) for day, n in enumerate(result.daily_verified) if n > bound[day]]
    assert over == []
    # the bound is not vacuous here: the ring does verify fakes, and fakes verified before day 30
    # can only have been vouched for by the fooled members
    assert result.daily_verified[29] > 0
    assert result.daily_verified[29] <= a * Params().vouch_quota // Params().vouch_threshold
    assert result.daily_verified[-1] > result.daily_verified[29]
    assert {"voucher_too_new", "quota_exceeded"} <= set(result.refused)


def test_rules_bound_follows_the_generations() -> None:
    params = Params()
    assert set(sybil.rules_bound(1, params, 365)) == {0}
    bound = sybil.rules_bound(2, params, 365)
    assert bound[0] == bound[29] == 12
    assert bound[30] == (2 * 12 + 12 * 12) // 2
    assert bound[60] == (2 * 12 + 12 * bound[30]) // 2
    with pytest.raises(ValueError):
        sybil.rules_bound(2, Params(voucher_min_age_days=0), 10)


@pytest.mark.spec("7.6-h")
@pytest.mark.spec("7.6-j")
def test_fakes_revoked_before_they_may_vouch_stop_the_ring_and_suspend_the_fooled() -> None:
    result = _run(2, detect_percent=100, detect_delay_days=0)
    params = Params()
    assert result.fakes_verified == 0
    assert result.detected == result.fakes_by_status["revoked"] > 0
    # no fake lived long enough to vouch, so only the fooled members' vouches ever counted
    assert max(result.daily_verified) <= 2 * params.vouch_quota // params.vouch_threshold
    # every fooled member vouched for at least strike_limit fakes that were revoked for fraud
    assert result.fooled_suspended == len(result.fooled) == 2
    for member_id in result.fooled:
        assert len(result.state.members[member_id].strikes) >= params.strike_limit


@pytest.mark.spec("8.2-e")
@pytest.mark.spec("7.7-b")
def test_simulated_log_replays_to_the_same_statuses() -> None:
    result = _run(2, detect_percent=50, detect_delay_days=45)
    assert result.fakes_by_status.get("revoked", 0) > 0  # fraud revocations and their cascades are in the log
    replayed = replay(result.leaves)
    assert replayed.size == result.state.size == len(result.leaves)
    statuses = {m: replayed.status_of(member) for m, member in replayed.members.items()}
    assert statuses == {m: result.state.status_of(member) for m, member in result.state.members.items()}
    assert all(statuses[m] is Status.VERIFIED for m in _honest_ids(result) if m not in result.fooled)


def test_simulation_is_deterministic() -> None:
    again = sybil.simulate(sybil.Config(a=1, **SMALL))
    assert again.leaves == _run(1).leaves
