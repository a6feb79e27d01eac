"""Hypothesis: the consistency-path fold of protocol §6.4-c against the RFC 9162 verifier of crypto.proof,
and forks of random shapes always yield evidence that holds."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from crypto.proof import verify_consistency
from registry.evidence import build_evidence, check_evidence, consistency_path, roots_from_consistency_path
from tests.witnessing import LOG_VKEY, ToyLog

BIG = ToyLog().append(300)


@pytest.mark.spec("6.4-c")
@given(st.integers(1, 299), st.integers(2, 300))
def test_fold_of_an_honest_path_gives_both_roots(m: int, n: int) -> None:
    assume(m < n)
    proof = BIG.proof(m, n)
    verify_consistency(m, n, BIG.root(m), BIG.root(n), proof)
    assert roots_from_consistency_path(m, n, consistency_path(m, proof, BIG.root(m))) == (BIG.root(m), BIG.root(n))


@pytest.mark.spec("6.4-c")
@given(st.integers(0, 60), st.integers(1, 60), st.integers(0, 60))
def test_every_fork_gives_evidence_that_holds(common: int, extra_old: int, extra_new: int) -> None:
    m = common + extra_old
    n = m + extra_new
    honest = ToyLog().append(m)
    fork = ToyLog().append(common).append(n - common, tag=b"fork ")
    path = () if m == n else consistency_path(m, fork.proof(m, n), fork.root(m))
    evidence = build_evidence(LOG_VKEY, honest.checkpoint(), fork.checkpoint(), path)
    assert check_evidence(evidence) is None


@pytest.mark.spec("6.4-c")
@given(st.integers(1, 80), st.integers(1, 80), st.data())
def test_a_changed_path_never_turns_an_honest_pair_into_evidence(m: int, extra: int, data: st.DataObject) -> None:
    n = m + extra
    log = ToyLog().append(n)
    path = list(consistency_path(m, log.proof(m, n), log.root(m)))
    i = data.draw(st.integers(0, len(path) - 1))
    bit = data.draw(st.integers(0, 255))
    path[i] = path[i][: bit // 8] + bytes([path[i][bit // 8] ^ (1 << (bit % 8))]) + path[i][bit // 8 + 1 :]
    rejection = check_evidence(build_evidence(LOG_VKEY, log.checkpoint(m), log.checkpoint(n), path))
    assert rejection is not None and rejection.code == "bad_proof"
