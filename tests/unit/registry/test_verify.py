"""The offline credential check of protocol §8.1: every step rejects what it must, in order."""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.note import add_signatures
from registry.credential import format_credential_binary, parse_credential_binary
from registry.errors import ErrorCode, Rejected
from registry.identity import disclose, make_identity
from registry.presentation import Presentation, format_presentation, make_presentation, parse_presentation
from registry.state import Status
from registry.statements import Reason
from registry.trust import parse_trust_policy
from registry.verify import STEPS, VerificationFailed, check_presentation, verify_presentation
from tests.credfactory import Issued, issue, log_signer, policy
from tests.factory import Log, key, mid

CHALLENGE = bytes(range(16))
HOUR = 3_600_000
VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "credential"
PERSON = {"family_name": "Петрова", "given_names": "Ольга", "birth_date": "1985-12-31", "document_number": "7612345",
          "issuing_state": "RUS"}  # fmt: skip
IDENTITY = make_identity(PERSON, [bytes([i + 1]) * 16 for i in range(5)], [bytes([20 + i]) * 16 for i in range(3)])


def _log() -> Log:
    log = Log.standard()
    log.submit(log.declare(key(11), key(1), commitment=IDENTITY.commitment))
    log.submit(log.vouch(key(2), key(11)))
    return log


def _issued(witnesses: int = 3, **kwargs: Any) -> tuple[Log, Issued]:
    log = _log()
    return log, issue(log, mid(key(11)), witnesses=witnesses, **kwargs)


def _failure(presentation: Presentation, quorum: int = 2, witnesses: int = 3, **kwargs: Any) -> VerificationFailed:
    kwargs.setdefault("now_ms", presentation.credential.state.logged_ms + 60_000)
    kwargs.setdefault("challenge", CHALLENGE)
    result = check_presentation(presentation, policy(witnesses, quorum), **kwargs)
    assert isinstance(result, VerificationFailed), "the presentation was accepted"
    return result


@pytest.mark.spec("8.1-a", "8.1-b", "8.1-c", "8.1-d", "8.1-f", "8.1-g", "8.1-h", "8.1-i", "8.1-j")
def test_a_verified_member_passes_every_step() -> None:
    _, issued = _issued()
    shown = disclose(IDENTITY, ["family_name", "birth_date"])
    p = make_presentation(issued.credential, key(11), CHALLENGE, shown)
    verdict = verify_presentation(
        p, policy(3, 2), now_ms=p.credential.state.logged_ms + HOUR, challenge=CHALLENGE,
        required_attributes=["family_name"],
    )  # fmt: skip
    assert verdict.member_id == mid(key(11)) and verdict.status is Status.VERIFIED
    assert verdict.since == 3 and verdict.challenge_checked  # index 2 closes the genesis batch
    assert dict(verdict.attributes) == {"family_name": "PETROVA", "birth_date": "1985-12-31"}
    assert verdict.witnesses == tuple(f"witness{n}.registry.example" for n in (1, 2, 3))
    # freshness from the 2nd newest cosignature (times t+1, t+2, t+3 seconds)
    cosign_s = p.credential.state.logged_ms // 1000 + 1
    assert verdict.fresh_ms == (cosign_s + 2) * 1000
    assert list(STEPS.values())[3] == "freshness"


@pytest.mark.spec("8.1-b", "8.1-d", "8.1-j")
def test_without_witnesses_freshness_is_the_state_leafs_time() -> None:
    _, issued = _issued(witnesses=0)
    p = make_presentation(issued.credential, key(11), CHALLENGE)
    verdict = verify_presentation(p, policy(0), now_ms=p.credential.state.logged_ms + HOUR)
    assert verdict.fresh_ms == p.credential.state.logged_ms and verdict.quorum == 0 and verdict.witnesses == ()
    assert verdict.age_ms == HOUR and not verdict.challenge_checked


@pytest.mark.spec("8.1-a")
def test_step_1_refuses_a_checkpoint_signed_by_another_key_or_for_another_origin() -> None:
    _, issued = _issued()
    cred = issued.credential
    from crypto.keys import SigningKey
    from crypto.notekey import NoteSigner

    forged_note = sign_checkpoint(cred.checkpoint, NoteSigner(cred.origin, SigningKey.from_seed(bytes(32))))
    p = make_presentation(replace(cred, note=forged_note), key(11), CHALLENGE)
    failure = _failure(p)
    assert (failure.step, failure.code) == (1, ErrorCode.BAD_SIGNATURE)
    other = replace(cred, checkpoint=Checkpoint("other.example/log", cred.checkpoint.size, cred.checkpoint.root_hash))
    failure = _failure(make_presentation(other, key(11), CHALLENGE))
    assert (failure.step, failure.code) == (1, ErrorCode.BAD_SIGNATURE)


@pytest.mark.spec("8.1-b")
def test_step_2_refuses_too_few_cosignatures_and_a_bad_one() -> None:
    _, issued = _issued()
    cred = issued.credential
    one = replace(cred, note=replace(cred.note, signatures=cred.note.signatures[:2]))
    failure = _failure(make_presentation(one, key(11), CHALLENGE))
    assert (failure.step, failure.code) == (2, ErrorCode.BAD_SIGNATURE)
    bad_sig = cred.note.signatures[1]
    broken = replace(bad_sig, signature=bad_sig.signature[:-1] + bytes([bad_sig.signature[-1] ^ 1]))
    tampered = replace(cred, note=add_signatures(cred.note, [broken]))
    failure = _failure(make_presentation(tampered, key(11), CHALLENGE), quorum=1)
    assert (failure.step, failure.code) == (2, ErrorCode.BAD_SIGNATURE)


@pytest.mark.spec("8.1-c")
def test_step_3_refuses_a_state_leaf_that_is_not_the_last_or_not_included() -> None:
    _, issued = _issued(witnesses=0)
    cred = issued.credential
    failure = _failure(make_presentation(replace(cred, state=replace(cred.state, logged_ms=1)), key(11), CHALLENGE),
                       witnesses=0, quorum=0)  # fmt: skip
    assert (failure.step, failure.code) == (3, ErrorCode.BAD_PROOF)
    moved = replace(cred, state=replace(cred.state, index=cred.state.index - 1))
    failure = _failure(make_presentation(moved, key(11), CHALLENGE), witnesses=0, quorum=0)
    assert (failure.step, failure.code) == (3, ErrorCode.BAD_PROOF)
    # a valid state leaf and proof, under a checkpoint of a later size (the state leaf is no longer last)
    bigger = Checkpoint(cred.origin, cred.checkpoint.size + 1, cred.checkpoint.root_hash)
    later = replace(cred, checkpoint=bigger, note=sign_checkpoint(bigger, log_signer()))
    failure = _failure(make_presentation(later, key(11), CHALLENGE), witnesses=0, quorum=0)
    assert (failure.step, failure.code) == (3, ErrorCode.BAD_PROOF)


@pytest.mark.spec("8.1-d", "8.1-e")
def test_step_4_refuses_stale_and_future_credentials() -> None:
    _, issued = _issued()
    p = make_presentation(issued.credential, key(11), CHALLENGE)
    t = p.credential.state.logged_ms
    failure = _failure(p, now_ms=t + 73 * HOUR)
    assert (failure.step, failure.code) == (4, ErrorCode.STALE_CREDENTIAL)
    failure = _failure(p, now_ms=t + 2 * HOUR, max_age_ms=HOUR)
    assert (failure.step, failure.code) == (4, ErrorCode.STALE_CREDENTIAL)
    failure = _failure(p, now_ms=t - HOUR)
    assert (failure.step, failure.code) == (4, ErrorCode.BAD_TIME)
    assert not isinstance(check_presentation(p, policy(3, 2), now_ms=t + 71 * HOUR), VerificationFailed)


@pytest.mark.spec("8.1-d")
def test_step_4_refuses_a_state_leaf_later_than_the_cosignatures() -> None:
    _, issued = _issued(cosign_s=1_600_000_000)  # witnesses cosigned long before the state leaf's time
    p = make_presentation(issued.credential, key(11), CHALLENGE)
    failure = _failure(p)
    assert (failure.step, failure.code) == (4, ErrorCode.BAD_TIME)


@pytest.mark.spec("8.1-f")
def test_step_5_refuses_an_altered_leaf_and_a_proof_against_another_root() -> None:
    log, issued = _issued(witnesses=0)
    cred = issued.credential
    leaf = cred.leaf
    alterations = (replace(leaf, since=leaf.since + 1), replace(leaf, commitment=None), replace(leaf, key=mid(key(12))))
    for altered in alterations:
        failure = _failure(Presentation(replace(cred, leaf=altered), CHALLENGE, bytes(64)), witnesses=0, quorum=0)
        assert (failure.step, failure.code) == (5, ErrorCode.BAD_PROOF)
    other_member = issue(log, mid(key(1))).credential
    swapped = replace(cred, status_proof=other_member.status_proof)
    failure = _failure(make_presentation(swapped, key(11), CHALLENGE), witnesses=0, quorum=0)
    assert (failure.step, failure.code) == (5, ErrorCode.BAD_PROOF)
    # a valid proof of this member from a later tree (another member joined), with this state leaf
    log.join(key(12), key(1), key(2))
    later = issue(log, mid(key(11))).credential
    assert later.status_proof != cred.status_proof
    failure = _failure(make_presentation(replace(cred, status_proof=later.status_proof), key(11), CHALLENGE),
                       witnesses=0, quorum=0)  # fmt: skip
    assert (failure.step, failure.code) == (5, ErrorCode.BAD_PROOF)


@pytest.mark.spec("8.1-g")
@pytest.mark.parametrize("status", ["pending", "revoked", "suspended"])
def test_step_6_refuses_a_member_who_is_not_verified(status: str) -> None:
    log = _log()
    if status == "pending":
        log.submit(log.declare(key(12), key(1)))
        member, signer = mid(key(12)), key(12)
    elif status == "revoked":
        log.submit(log.revoke_self(key(11), Reason.WITHDRAWN))
        member, signer = mid(key(11)), key(11)
    else:
        log.join(key(13), key(11), key(3))
        log.submit(log.council_revoke(key(13)))  # strike 1 for key(11) and key(3)
        log.join(key(14), key(11), key(2))
        log.submit(log.council_revoke(key(14)))  # strike 2: key(11) suspended
        member, signer = mid(key(11)), key(11)
    cred = issue(log, member).credential
    assert cred.leaf.status is Status(status)
    failure = _failure(make_presentation(cred, signer, CHALLENGE), witnesses=0, quorum=0)
    assert (failure.step, failure.code) == (6, ErrorCode.NOT_VERIFIED)
    assert status in failure.message


@pytest.mark.spec("8.1-h")
def test_step_7_refuses_a_wrong_challenge_and_a_signature_by_another_key() -> None:
    _, issued = _issued()
    p = make_presentation(issued.credential, key(11), CHALLENGE)
    failure = _failure(p, challenge=bytes(16))
    assert (failure.step, failure.code) == (7, ErrorCode.WRONG_CHALLENGE)
    forged = replace(p, signature=key(12).sign(b"x"))
    assert (_failure(forged).step, _failure(forged).code) == (7, ErrorCode.BAD_SIGNATURE)
    # a presentation's signature does not transfer to another challenge or disclosure
    moved = replace(p, challenge=bytes(16))
    assert _failure(moved, challenge=None).code is ErrorCode.BAD_SIGNATURE
    shown = replace(p, disclosure=disclose(IDENTITY, ["birth_date"]))
    assert (_failure(shown).step, _failure(shown).code) == (7, ErrorCode.BAD_SIGNATURE)


@pytest.mark.spec("8.1-h")
def test_step_7_uses_the_current_key_after_a_rotation() -> None:
    log = _log()
    log.submit(log.rotate(key(11), key(21)))
    cred = issue(log, mid(key(11))).credential
    assert cred.leaf.key == key(21).public_key
    p = make_presentation(cred, key(21), CHALLENGE)
    verdict = verify_presentation(p, policy(0), now_ms=cred.state.logged_ms, challenge=CHALLENGE)
    assert verdict.member_id == mid(key(11)) and verdict.key == key(21).public_key
    with pytest.raises(Rejected):
        make_presentation(cred, key(11), CHALLENGE)


@pytest.mark.spec("8.1-i")
def test_step_8_refuses_altered_and_undisclosed_attributes() -> None:
    _, issued = _issued()
    cred = issued.credential
    shown = disclose(IDENTITY, ["family_name"])
    altered = replace(shown, disclosures=(replace(shown.disclosures[0], value="IVANOVA"),))
    failure = _failure(make_presentation(cred, key(11), CHALLENGE, altered))
    assert (failure.step, failure.code) == (8, ErrorCode.ATTRIBUTE_MISMATCH)
    failure = _failure(make_presentation(cred, key(11), CHALLENGE, shown), required_attributes=["birth_date"])
    assert (failure.step, failure.code) == (8, ErrorCode.UNDISCLOSED_ATTRIBUTE)
    failure = _failure(make_presentation(cred, key(11), CHALLENGE), required_attributes=["family_name"])
    assert (failure.step, failure.code) == (8, ErrorCode.UNDISCLOSED_ATTRIBUTE)
    other = make_identity(PERSON, [bytes([99]) * 16] * 5, [bytes([98 + i]) * 16 for i in range(3)])
    failure = _failure(make_presentation(cred, key(11), CHALLENGE, disclose(other, ["family_name"])))
    assert (failure.step, failure.code) == (8, ErrorCode.ATTRIBUTE_MISMATCH)


@pytest.mark.spec("8.1-i")
def test_step_8_refuses_a_disclosure_for_a_member_without_commitment() -> None:
    log = Log.standard()
    log.join(key(11), key(1), key(2))
    cred = issue(log, mid(key(11))).credential
    failure = _failure(make_presentation(cred, key(11), CHALLENGE, disclose(IDENTITY, ["family_name"])),
                       witnesses=0, quorum=0)  # fmt: skip
    assert (failure.step, failure.code) == (8, ErrorCode.ATTRIBUTE_MISMATCH)


@pytest.mark.spec("8.1-j")
def test_a_tampered_byte_anywhere_in_the_text_form_is_refused() -> None:
    _, issued = _issued()
    shown = disclose(IDENTITY, ["family_name"])
    data = format_presentation(make_presentation(issued.credential, key(11), CHALLENGE, shown))
    strict = policy(3, 3)
    now = issued.credential.state.logged_ms + 60_000
    for i in range(len(data)):
        tampered = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]
        try:
            p = parse_presentation(tampered)
        except Rejected:
            continue
        result = check_presentation(p, strict, now_ms=now, challenge=CHALLENGE)
        assert isinstance(result, VerificationFailed), f"byte {i} flipped was accepted"


@pytest.mark.spec("8.1-j", "9.7-d")
def test_a_tampered_byte_anywhere_in_the_binary_form_is_refused() -> None:
    _, issued = _issued()
    p = make_presentation(issued.credential, key(11), CHALLENGE)
    data = format_credential_binary(issued.credential)
    strict = policy(3, 3)
    names = {w.key_id: w.name for w in strict.witnesses}
    now = issued.credential.state.logged_ms + 60_000
    assert not isinstance(check_presentation(p, strict, now_ms=now, challenge=CHALLENGE), VerificationFailed)
    for i in range(len(data)):
        tampered = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]
        try:
            cred = parse_credential_binary(tampered, names)
        except Rejected:
            continue
        result = check_presentation(replace(p, credential=cred), strict, now_ms=now, challenge=CHALLENGE)
        assert isinstance(result, VerificationFailed), f"byte {i} flipped was accepted"


@pytest.mark.spec("8.1-k")
def test_verification_opens_no_network_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    _, issued = _issued()
    p = make_presentation(issued.credential, key(11), CHALLENGE)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the verifier tried to open a network connection")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    verify_presentation(p, policy(3, 2), now_ms=issued.credential.state.logged_ms, challenge=CHALLENGE)


def _vectors() -> list[Any]:
    return [
        pytest.param(json.loads(p.read_text(encoding="utf-8")), id=p.stem)
        for p in sorted(VECTORS.glob("credential-*.json"))
    ]


@pytest.mark.spec("11.3-a", "8.1-a", "8.1-b", "8.1-c", "8.1-d", "8.1-e", "8.1-f", "8.1-g", "8.1-h", "8.1-i")
@pytest.mark.parametrize("case", _vectors())
def test_credential_vectors(case: dict[str, Any]) -> None:
    i = case["inputs"]
    p = parse_presentation(i["presentation"].encode())
    trust = parse_trust_policy(i["policy"])
    result = check_presentation(
        p, trust, now_ms=i["now_ms"], challenge=None if i["challenge"] is None else bytes.fromhex(i["challenge"]),
        required_attributes=i["required_attributes"],
    )  # fmt: skip
    if "expected_error" in case:
        assert isinstance(result, VerificationFailed)
        assert (result.step, str(result.code), result.rejection.section) == (
            case["step"], case["expected_error"], case["section"])  # fmt: skip
    else:
        assert not isinstance(result, VerificationFailed), result
        e = case["expected"]
        assert (result.member_id.hex(), str(result.status), result.since, result.tree_size) == (
            e["member"], e["status"], e["since"], e["tree_size"])  # fmt: skip
        assert dict(result.attributes) == e["attributes"]
