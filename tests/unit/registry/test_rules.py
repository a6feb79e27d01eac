"""Each membership rule of protocol §7, and each rejection code it raises."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from registry.errors import ErrorCode, Rejected
from registry.rules import MAX_CLOCK_SKEW_MS, Context, apply, genesis
from registry.statements import (
    Declare,
    Params,
    Reason,
    Revoke,
    Vouch,
    declaration_hash,
    entry_from_statement,
    sign_entry,
    verify_entry,
)
from tests.factory import EN, ORIGIN, T0, Log, key, mid, policy_statement, signed

F1, F2, F3 = key(1), key(2), key(3)
C1, C2, C3 = key(101), key(102), key(103)
A, B, C, D, E = key(11), key(12), key(13), key(14), key(15)


def code(log: Log, entry: object) -> ErrorCode | None:
    rejection = log.try_submit(entry)  # type: ignore[arg-type]
    return None if rejection is None else rejection.code


@pytest.fixture
def log() -> Log:
    return Log.standard()


# --- genesis and policy (§7.2) --------------------------------------------------------------------


@pytest.mark.spec("7.2-b")
def test_founders_are_verified_from_genesis(log: Log) -> None:
    for founder in (F1, F2, F3):
        assert log.status(founder) == "verified"
    assert log.state.size == 1


@pytest.mark.spec("7.2-a")
def test_genesis_must_be_version_zero_policy_at_index_zero() -> None:
    stmt = policy_statement([F1], [C1], 1)
    entry = verify_entry(signed(stmt, C1), ORIGIN)
    with pytest.raises(Rejected) as exc:
        genesis(entry, Context(1, T0))
    assert exc.value.code is ErrorCode.NOT_GENESIS
    declare = verify_entry(signed(Declare(ORIGIN, T0, mid(A), declaration_hash(EN), None, None), A), ORIGIN)
    with pytest.raises(Rejected) as exc:
        genesis(declare, Context(0, T0))
    assert exc.value.code is ErrorCode.NOT_GENESIS


@pytest.mark.spec("7.2-b")
def test_genesis_needs_a_founder() -> None:
    entry = verify_entry(signed(policy_statement([], [C1], 1), C1), ORIGIN)
    with pytest.raises(Rejected) as exc:
        genesis(entry, Context(0, T0))
    assert exc.value.code is ErrorCode.BAD_POLICY


@pytest.mark.spec("7.2-c")
def test_policy_needs_russian_and_english_declarations() -> None:
    stmt = dataclasses.replace(policy_statement([F1], [C1], 1), declarations={"en": EN})
    with pytest.raises(Rejected) as exc:
        genesis(verify_entry(signed(stmt, C1), ORIGIN), Context(0, T0))
    assert exc.value.code is ErrorCode.BAD_POLICY


@pytest.mark.spec("7.2-g", "7.1-d")
def test_genesis_needs_threshold_of_its_council() -> None:
    stmt = policy_statement([F1], [C1, C2, C3], 2)
    with pytest.raises(Rejected) as exc:
        genesis(verify_entry(signed(stmt, C1), ORIGIN), Context(0, T0))
    assert exc.value.code is ErrorCode.INSUFFICIENT_SIGNATURES


@pytest.mark.spec("7.2-e")
def test_amendment_version_must_follow(log: Log) -> None:
    assert code(log, log.amend(Params(voucher_min_age_days=0), version=5)) is ErrorCode.BAD_POLICY
    assert code(log, log.amend(Params(voucher_min_age_days=0, vouch_quota=3))) is None
    assert log.state.policy.version == 1
    assert log.state.policy.params.vouch_quota == 3


@pytest.mark.spec("7.2-f")
def test_amendment_cannot_add_founders(log: Log) -> None:
    stmt = dataclasses.replace(policy_statement([A], [C1, C2, C3], 2), version=1)
    assert code(log, signed(stmt, C1, C2)) is ErrorCode.BAD_POLICY


@pytest.mark.spec("7.2-g", "7.1-e")
def test_amendment_signed_by_current_council_only(log: Log) -> None:
    stmt = dataclasses.replace(policy_statement([], [C1, C2, C3], 2), version=1)
    assert code(log, signed(stmt, C1)) is ErrorCode.INSUFFICIENT_SIGNATURES
    assert code(log, signed(stmt, C1, A)) is ErrorCode.UNEXPECTED_SIGNATURE


@pytest.mark.spec("7.2-h")
def test_raising_the_threshold_demotes_members(log: Log) -> None:
    log.join(A, F1, F2)
    assert log.status(A) == "verified"
    log.submit(log.amend(Params(voucher_min_age_days=0, vouch_threshold=3)))
    assert log.status(A) == "pending"
    assert log.state.pending_count == 1


# --- common rules (§7.1) ---------------------------------------------------------------------------


@pytest.mark.spec("7.1-a")
def test_wrong_origin_is_refused(log: Log) -> None:
    stmt = Declare("other.example/log", log.now_ms, mid(A), declaration_hash(EN), None, mid(F1))
    assert code(log, signed(stmt, A, F1)) is ErrorCode.WRONG_ORIGIN


@pytest.mark.spec("7.1-b")
def test_bad_signature_is_refused(log: Log) -> None:
    entry = log.declare(A, F1)
    forged = dataclasses.replace(
        entry, signatures=tuple(dataclasses.replace(s, signature=bytes(64)) for s in entry.signatures)
    )
    assert code(log, forged) is ErrorCode.BAD_SIGNATURE


@pytest.mark.spec("7.1-b")
def test_signature_for_another_statement_is_refused(log: Log) -> None:
    e1 = log.declare(A, F1)
    e2 = log.declare(B, F1)
    mixed = dataclasses.replace(e2, signatures=e1.signatures)
    assert code(log, mixed) is ErrorCode.BAD_SIGNATURE


@pytest.mark.spec("7.1-g")
def test_duplicate_is_refused_by_payload_hash_not_signature(log: Log) -> None:
    entry = log.declare(A, F1)
    assert code(log, entry) is None
    assert code(log, entry) is ErrorCode.DUPLICATE_ENTRY
    # Re-signed (Ed25519 is deterministic, so strip one signature and sign again): same payload, refused.
    resigned = sign_entry(dataclasses.replace(entry, signatures=entry.signatures[:1]), A)
    resigned = sign_entry(resigned, F1)
    assert code(log, resigned) is ErrorCode.DUPLICATE_ENTRY
    assert log.state.size == 2


@pytest.mark.spec("7.1-h")
def test_creation_time_in_the_future_is_refused(log: Log) -> None:
    stmt = Declare(ORIGIN, log.now_ms + MAX_CLOCK_SKEW_MS + 10, mid(A), declaration_hash(EN), None, mid(F1))
    assert code(log, signed(stmt, A, F1)) is ErrorCode.BAD_TIME


@pytest.mark.spec("5.6-b", "5.6-c")
def test_index_and_log_time_are_checked(log: Log) -> None:
    entry = verify_entry(log.declare(A, F1), ORIGIN)
    with pytest.raises(Rejected) as exc:
        apply(log.state, entry, Context(5, log.now_ms))
    assert exc.value.code is ErrorCode.MALFORMED_ENTRY
    with pytest.raises(Rejected) as exc:
        apply(log.state, entry, Context(1, log.state.last_logged_ms - 1))
    assert exc.value.code is ErrorCode.BAD_TIME


@pytest.mark.spec("7.1-e")
def test_extra_signature_is_refused(log: Log) -> None:
    entry = sign_entry(log.declare(A, F1), B)
    assert code(log, entry) is ErrorCode.UNEXPECTED_SIGNATURE


# --- declare (§7.3) --------------------------------------------------------------------------------


@pytest.mark.spec("7.3-j")
def test_sponsored_member_is_pending_with_one_vouch(log: Log) -> None:
    log.submit(log.declare(A, F1))
    assert log.status(A) == "pending"
    assert log.state.view(log.member(A)).valid_vouches == 1
    assert log.state.pending_count == 1


@pytest.mark.spec("7.3-a")
def test_second_vouch_verifies(log: Log) -> None:
    log.join(A, F1, F2)
    assert log.status(A) == "verified"
    assert log.state.pending_count == 0


@pytest.mark.spec("7.3-h")
def test_declare_without_sponsor_is_refused_by_default(log: Log) -> None:
    assert code(log, log.declare(A, None)) is ErrorCode.SPONSOR_REQUIRED


@pytest.mark.spec("7.3-h")
def test_declare_without_sponsor_allowed_when_policy_says_so() -> None:
    log = Log.standard(params=Params(voucher_min_age_days=0, sponsor_required=False))
    assert code(log, log.declare(A, None)) is None
    assert log.state.view(log.member(A)).valid_vouches == 0


@pytest.mark.spec("7.3-i")
def test_declare_needs_sponsor_signature(log: Log) -> None:
    assert code(log, log.declare(A, F1, sign_sponsor=False)) is ErrorCode.INSUFFICIENT_SIGNATURES


@pytest.mark.spec("7.3-f")
def test_declare_twice_is_already_member(log: Log) -> None:
    log.submit(log.declare(A, F1))
    log.tick()
    assert code(log, log.declare(A, F2)) is ErrorCode.ALREADY_MEMBER


@pytest.mark.spec("7.3-g")
def test_unknown_declaration_is_refused(log: Log) -> None:
    stmt = Declare(ORIGIN, log.now_ms, mid(A), hashlib.sha256(b"another text").digest(), None, mid(F1))
    assert code(log, signed(stmt, A, F1)) is ErrorCode.UNKNOWN_DECLARATION


@pytest.mark.spec("7.3-e")
def test_unknown_sponsor_is_refused(log: Log) -> None:
    assert code(log, log.declare(A, B)) is ErrorCode.UNKNOWN_MEMBER


# --- vouch (§7.4) ----------------------------------------------------------------------------------


@pytest.mark.spec("7.4-a")
def test_self_vouch_is_refused(log: Log) -> None:
    assert code(log, log.vouch(F1, F1)) is ErrorCode.SELF_VOUCH
    stmt = Declare(ORIGIN, log.now_ms, mid(A), declaration_hash(EN), None, mid(A))
    assert code(log, signed(stmt, A)) is ErrorCode.SELF_VOUCH


@pytest.mark.spec("7.4-b")
def test_vouch_needs_subject_consent(log: Log) -> None:
    log.submit(log.declare(A, F1))
    assert code(log, log.vouch(F2, A, accept=False)) is ErrorCode.INSUFFICIENT_SIGNATURES
    assert log.status(A) == "pending"


@pytest.mark.spec("7.4-e")
def test_pending_voucher_is_refused(log: Log) -> None:
    log.submit(log.declare(A, F1))
    log.submit(log.declare(B, F1))
    assert code(log, log.vouch(A, B)) is ErrorCode.VOUCHER_NOT_VERIFIED


@pytest.mark.spec("7.4-f")
def test_voucher_must_be_verified_long_enough() -> None:
    log = Log.standard(params=Params(voucher_min_age_days=30))
    log.join(A, F1, F2)
    log.submit(log.declare(B, F3))
    assert code(log, log.vouch(A, B)) is ErrorCode.VOUCHER_TOO_NEW
    log.tick(days=30)
    assert code(log, log.vouch(A, B)) is None


@pytest.mark.spec("7.4-f")
def test_founders_are_exempt_from_voucher_age() -> None:
    log = Log.standard(params=Params(voucher_min_age_days=30))
    assert code(log, log.declare(A, F1)) is None


@pytest.mark.spec("7.4-g")
def test_vouch_quota_per_365_days() -> None:
    log = Log.standard(params=Params(voucher_min_age_days=0, vouch_quota=2, max_pending_vouchees=10))
    log.submit(log.declare(A, F1))
    log.submit(log.declare(B, F1))
    assert code(log, log.declare(C, F1)) is ErrorCode.QUOTA_EXCEEDED
    log.tick(days=365)
    assert code(log, log.declare(C, F1)) is None


@pytest.mark.spec("7.4-h")
def test_at_most_two_pending_vouchees(log: Log) -> None:
    log.submit(log.declare(A, F1))
    log.submit(log.declare(B, F1))
    assert code(log, log.declare(C, F1)) is ErrorCode.TOO_MANY_PENDING
    log.submit(log.vouch(F2, A))  # A becomes verified, so F1 has one pending vouchee
    assert code(log, log.declare(C, F1)) is None


@pytest.mark.spec("7.4-h")
def test_vouch_that_verifies_does_not_count_as_pending(log: Log) -> None:
    log.submit(log.declare(A, F1))
    log.submit(log.declare(B, F1))
    log.submit(log.declare(C, F2))
    log.submit(log.declare(D, F2))
    # F1 has A, B pending; vouching for C (pending, one vouch) makes C verified: allowed.
    assert code(log, log.vouch(F1, C)) is None
    assert log.status(C) == "verified"


@pytest.mark.spec("7.4-i")
def test_vouch_must_name_the_subject_commitment(log: Log) -> None:
    commitment = hashlib.sha256(b"salted attributes").digest()
    log.submit(log.declare(A, F1, commitment=commitment))
    assert code(log, log.vouch(F2, A, commitment=hashlib.sha256(b"other").digest())) is ErrorCode.COMMITMENT_MISMATCH
    assert code(log, log.vouch(F2, A, commitment=commitment)) is None


@pytest.mark.spec("7.4-j")
def test_vouching_twice_is_refused(log: Log) -> None:
    log.submit(log.declare(A, F1))
    log.submit(log.vouch(F2, A))
    log.tick()
    assert code(log, log.vouch(F2, A)) is ErrorCode.ALREADY_VOUCHED


@pytest.mark.spec("7.4-c")
def test_revoked_subject_cannot_be_vouched_for(log: Log) -> None:
    log.submit(log.declare(A, F1))
    log.submit(log.revoke_self(A, Reason.WITHDRAWN))
    assert code(log, log.vouch(F2, A)) is ErrorCode.MEMBER_REVOKED


@pytest.mark.spec("7.4-c")
def test_revoked_voucher_cannot_vouch(log: Log) -> None:
    log.submit(log.declare(A, F1))
    log.submit(log.revoke_self(F2, Reason.WITHDRAWN))
    assert code(log, log.vouch(F2, A)) is ErrorCode.MEMBER_REVOKED


@pytest.mark.spec("7.4-d", "7.6-j")
def test_two_strikes_suspend_a_voucher(log: Log) -> None:
    log.join(A, F1, F2)
    log.join(B, F1, F2)
    log.submit(log.council_revoke(A))
    assert len(log.member(F1).strikes) == 1
    assert log.status(F1) == "verified"
    log.submit(log.council_revoke(B))
    assert log.status(F1) == "suspended"
    assert code(log, log.declare(C, F1)) is ErrorCode.VOUCHER_SUSPENDED


# --- unvouch (§7.5) --------------------------------------------------------------------------------


@pytest.mark.spec("7.5-a", "7.5-c", "7.7-a")
def test_unvouch_drops_member_back_to_pending(log: Log) -> None:
    log.join(A, F1, F2)
    assert code(log, log.unvouch(F3, A)) is ErrorCode.NO_SUCH_VOUCH
    log.submit(log.unvouch(F2, A))
    assert log.status(A) == "pending"
    assert log.state.view(log.member(A)).valid_vouches == 1


@pytest.mark.spec("7.5-a")
def test_unvouch_signed_by_subject_is_refused(log: Log) -> None:
    log.join(A, F1, F2)
    stmt = log.unvouch(F2, A).statement
    assert code(log, signed(stmt, A)) is ErrorCode.UNEXPECTED_SIGNATURE
    assert code(log, signed(stmt, F2, A)) is ErrorCode.UNEXPECTED_SIGNATURE


@pytest.mark.spec("7.5-b")
def test_revoked_voucher_cannot_unvouch(log: Log) -> None:
    log.join(A, F1, F2)
    log.submit(log.revoke_self(F2, Reason.WITHDRAWN))
    assert code(log, log.unvouch(F2, A)) is ErrorCode.MEMBER_REVOKED


# --- revoke and reinstate (§7.6) -----------------------------------------------------------------


@pytest.mark.spec("7.6-f")
def test_member_revokes_themselves(log: Log) -> None:
    log.join(A, F1, F2)
    log.submit(log.revoke_self(A, Reason.WITHDRAWN))
    assert log.status(A) == "revoked"
    assert log.state.view(log.member(A)).revocation_reason is Reason.WITHDRAWN


@pytest.mark.spec("7.6-f")
def test_self_revocation_by_another_key_is_refused(log: Log) -> None:
    log.join(A, F1, F2)
    stmt = log.revoke_self(A, Reason.WITHDRAWN).statement
    assert code(log, signed(stmt, B)) is ErrorCode.UNEXPECTED_SIGNATURE


@pytest.mark.spec("7.6-b")
def test_revoking_twice_is_refused(log: Log) -> None:
    log.join(A, F1, F2)
    log.submit(log.revoke_self(A, Reason.DURESS))
    assert code(log, log.revoke_self(A, Reason.WITHDRAWN)) is ErrorCode.MEMBER_REVOKED


@pytest.mark.spec("7.6-c")
def test_council_revocation_needs_evidence_hash(log: Log) -> None:
    log.join(A, F1, F2)
    stmt = Revoke(ORIGIN, log.now_ms, mid(A), Reason.FRAUD, None)
    assert code(log, signed(stmt, C1, C2)) is ErrorCode.MALFORMED_ENTRY


@pytest.mark.spec("7.6-d", "7.1-d")
def test_council_revocation_needs_m_signatures(log: Log) -> None:
    log.join(A, F1, F2)
    assert code(log, log.council_revoke(A, signers=1)) is ErrorCode.INSUFFICIENT_SIGNATURES


@pytest.mark.spec("7.6-e")
def test_self_revocation_carries_no_evidence(log: Log) -> None:
    log.join(A, F1, F2)
    stmt = Revoke(ORIGIN, log.now_ms, mid(A), Reason.WITHDRAWN, hashlib.sha256(b"x").digest())
    assert code(log, signed(stmt, A)) is ErrorCode.MALFORMED_ENTRY


@pytest.mark.spec("7.6-e", "7.6-d")
def test_member_cannot_claim_fraud_reason(log: Log) -> None:
    log.join(A, F1, F2)
    stmt = Revoke(ORIGIN, log.now_ms, mid(A), Reason.FRAUD, hashlib.sha256(b"x").digest())
    assert code(log, signed(stmt, A)) is ErrorCode.UNEXPECTED_SIGNATURE


@pytest.mark.spec("7.6-h", "7.7-a", "7.7-b")
def test_fraud_voids_vouches_and_cascades(log: Log) -> None:
    # A verified by F1+F2; B verified by A+F3; C verified by B+F1. A is fraudulent.
    log.join(A, F1, F2)
    log.join(B, A, F3)
    log.join(C, B, F1)
    assert [log.status(x) for x in (A, B, C)] == ["verified"] * 3
    log.submit(log.council_revoke(A))
    assert log.status(A) == "revoked"
    assert log.status(B) == "pending"  # lost A's vouch
    assert log.status(C) == "pending"  # B's vouch no longer counts: cascade
    assert log.state.pending_count == 2
    # A new vouch for B restores B, and with it C.
    log.submit(log.vouch(F2, B))
    assert log.status(B) == "verified"
    assert log.status(C) == "verified"


@pytest.mark.spec("7.6-i")
def test_key_compromised_voids_vouches_that_key_gave(log: Log) -> None:
    log.join(A, F1, F2)
    log.join(B, A, F3)
    log.submit(log.revoke_self(A, Reason.KEY_COMPROMISED))
    assert log.status(B) == "pending"


@pytest.mark.spec("7.6-l")
def test_withdrawn_and_duress_keep_vouches(log: Log) -> None:
    log.join(A, F1, F2)
    log.join(B, A, F3)
    log.join(C, A, F3)
    log.submit(log.revoke_self(A, Reason.DURESS))
    assert log.status(B) == "verified"
    assert log.status(C) == "verified"


@pytest.mark.spec("7.6-g", "7.6-k")
def test_reinstate_reverses_council_revocation(log: Log) -> None:
    log.join(A, F1, F2)
    log.join(B, A, F3)
    log.submit(log.council_revoke(A))
    assert log.status(B) == "pending"
    assert len(log.member(F1).strikes) == 1
    log.submit(log.reinstate(A))
    assert log.status(A) == "verified"
    assert log.status(B) == "verified"
    assert log.member(F1).strikes == ()


@pytest.mark.spec("7.6-g")
def test_reinstate_only_council_revocations(log: Log) -> None:
    log.join(A, F1, F2)
    assert code(log, log.reinstate(A)) is ErrorCode.NOT_REVOKED_BY_COUNCIL
    log.submit(log.revoke_self(A, Reason.WITHDRAWN))
    assert code(log, log.reinstate(A)) is ErrorCode.NOT_REVOKED_BY_COUNCIL


# --- rotate (§7.9) ---------------------------------------------------------------------------------


@pytest.mark.spec("7.9-c", "7.9-d", "7.1-f")
def test_rotation_carries_over_and_retires_old_key(log: Log) -> None:
    log.join(A, F1, F2)
    log.submit(log.rotate(A, E))
    member = log.member(E)
    assert member.member_id == mid(A)
    assert member.key == E.public_key
    assert log.status(E) == "verified"
    log.submit(log.declare(B, F3))
    # The old key can sign nothing afterwards.
    old_signed = signed(Vouch(ORIGIN, log.now_ms, mid(A), mid(B), None), A, B)
    assert code(log, old_signed) is ErrorCode.KEY_RETIRED
    assert code(log, log.declare(A, F3)) is ErrorCode.KEY_RETIRED
    # The new key vouches under the same member id.
    assert code(log, log.vouch(E, B)) is None
    assert log.status(B) == "verified"


@pytest.mark.spec("7.9-c")
def test_rotation_needs_both_keys(log: Log) -> None:
    log.join(A, F1, F2)
    stmt = log.rotate(A, E).statement
    assert code(log, signed(stmt, A)) is ErrorCode.INSUFFICIENT_SIGNATURES


@pytest.mark.spec("7.9-b")
def test_rotation_to_a_member_key_is_refused(log: Log) -> None:
    log.join(A, F1, F2)
    assert code(log, log.rotate(A, F3)) is ErrorCode.ALREADY_MEMBER


@pytest.mark.spec("7.9-a")
def test_revoked_member_cannot_rotate(log: Log) -> None:
    log.join(A, F1, F2)
    log.submit(log.revoke_self(A, Reason.WITHDRAWN))
    assert code(log, log.rotate(A, E)) is ErrorCode.MEMBER_REVOKED


# --- flood limits (§7.8) ---------------------------------------------------------------------------


@pytest.mark.spec("7.8-a")
def test_rate_limit_per_member_per_day() -> None:
    log = Log.standard(params=Params(voucher_min_age_days=0, rate_limit_per_day=2, max_pending_vouchees=10))
    log.submit(log.declare(A, F1))
    log.submit(log.declare(B, F1))
    assert code(log, log.declare(C, F1)) is ErrorCode.RATE_LIMITED
    log.tick(days=1)
    assert code(log, log.declare(C, F1)) is None


@pytest.mark.spec("7.8-b")
def test_cap_on_pending_members() -> None:
    log = Log.standard(params=Params(voucher_min_age_days=0, max_pending_members=2))
    log.submit(log.declare(A, F1))
    log.submit(log.declare(B, F2))
    assert code(log, log.declare(C, F3)) is ErrorCode.RATE_LIMITED


# --- parsing (§4.2) --------------------------------------------------------------------------------


@pytest.mark.spec("7.6-a")
def test_unknown_reason_is_bad_reason() -> None:
    from crypto import canonical
    from registry.statements import format_entry, parse_entry

    entry = sign_entry(entry_from_statement(Revoke(ORIGIN, T0, mid(A), Reason.WITHDRAWN, None)), A)
    obj = canonical.decode(format_entry(entry))
    assert isinstance(obj, dict)
    obj["statement"]["reason"] = "bored"  # type: ignore[index,call-overload]
    with pytest.raises(Rejected) as exc:
        parse_entry(canonical.encode(obj))
    assert exc.value.code is ErrorCode.BAD_REASON


@pytest.mark.spec("7.8-a")
def test_revocations_and_rotations_are_never_rate_limited() -> None:
    """A member in danger must always be able to act, even after using up the day's statements."""
    log = Log.standard(params=Params(voucher_min_age_days=0, rate_limit_per_day=1, max_pending_vouchees=10))
    log.submit(log.declare(A, F1))  # F1's one statement of the day
    assert code(log, log.declare(B, F1)) is ErrorCode.RATE_LIMITED
    assert code(log, log.rotate(F1, E)) is None
    assert code(log, log.revoke_self(E, Reason.DURESS)) is None
    assert log.status(E) == "revoked"
