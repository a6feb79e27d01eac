"""`registry verify --trust POLICY` and the witness quorum (protocol §6.1-d, §6.1-e, §8.1 step 2): k valid
cosignatures of distinct known witnesses; unknown ones ignored; one witness counted once, even when its
key is listed under two names."""

from __future__ import annotations

from dataclasses import replace

import pytest

from crypto.cosignature import cosign
from crypto.keys import SigningKey
from crypto.note import add_signatures
from crypto.notekey import SIG_TYPE_COSIGNATURE, NoteVerifier
from registry.credential import Credential
from registry.errors import ErrorCode, Rejected
from registry.presentation import make_presentation
from registry.trust import TrustPolicy
from registry.verify import VerificationFailed, check_presentation
from tests.credfactory import issue, log_signer, witness_key, witness_name, witness_verifier
from tests.factory import ORIGIN, Log, key, mid

CHALLENGE = bytes(range(16))
STRANGER = SigningKey.from_seed(b"\x42" * 32)


def _credential(witnesses: int) -> Credential:
    log = Log.standard()
    log.submit(log.declare(key(11), key(1)))
    log.submit(log.vouch(key(2), key(11)))
    return issue(log, mid(key(11)), witnesses=witnesses).credential


def _check(credential: Credential, policy: TrustPolicy) -> object:
    presentation = make_presentation(credential, key(11), CHALLENGE)
    return check_presentation(presentation, policy, now_ms=credential.state.logged_ms + 60_000, challenge=CHALLENGE)


def _policy(witnesses: tuple[NoteVerifier, ...], quorum: int) -> TrustPolicy:
    return TrustPolicy(ORIGIN, log_signer().verifier, witnesses, quorum)


@pytest.mark.spec("6.1-e")
def test_unknown_cosignatures_are_ignored_and_do_not_count() -> None:
    cred = _credential(witnesses=2)
    stranger = cosign(STRANGER, "stranger.example", cred.note.text, cred.state.logged_ms // 1000 + 5)
    with_stranger = replace(cred, note=add_signatures(cred.note, [stranger]))
    known = (witness_verifier(1), witness_verifier(2), witness_verifier(3))
    assert not isinstance(_check(with_stranger, _policy(known, 2)), VerificationFailed)
    failure = _check(with_stranger, _policy(known, 3))
    assert isinstance(failure, VerificationFailed) and (failure.step, failure.code) == (2, ErrorCode.BAD_SIGNATURE)


@pytest.mark.spec("6.1-d", "6.1-e")
def test_one_witness_key_under_two_names_is_refused_so_it_cannot_count_twice() -> None:
    # The cosignature message does not name the witness: witness 1's line relabelled under a second
    # name verifies for that name too. A policy listing one key under two names is refused.
    alias = NoteVerifier("alias.registry.example", SIG_TYPE_COSIGNATURE, witness_key(1).public_key)
    with pytest.raises(Rejected) as info:
        _policy((witness_verifier(1), alias), 2)
    assert info.value.code == ErrorCode.BAD_KEY
    cred = _credential(witnesses=1)
    line = cred.note.signatures[-1]
    relabelled = cosign(witness_key(1), alias.name, cred.note.text, int.from_bytes(line.signature[:8], "big"))
    assert relabelled.signature == line.signature  # the same bytes, under another name
    doubled = replace(cred, note=add_signatures(cred.note, [relabelled]))
    failure = _check(doubled, _policy((witness_verifier(1), witness_verifier(2)), 2))
    assert isinstance(failure, VerificationFailed) and failure.step == 2


@pytest.mark.spec("6.1-e")
def test_the_quorum_counts_distinct_known_witnesses() -> None:
    cred = _credential(witnesses=3)
    known = tuple(witness_verifier(n) for n in (1, 2, 3))
    assert not isinstance(_check(cred, _policy(known, 3)), VerificationFailed)
    two = replace(cred, note=replace(cred.note, signatures=cred.note.signatures[:3]))  # log + witnesses 1, 2
    failure = _check(two, _policy(known, 3))
    assert isinstance(failure, VerificationFailed) and failure.step == 2
    assert witness_name(3) not in {s.name for s in two.note.signatures}
