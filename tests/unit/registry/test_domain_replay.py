"""Domain separation and replay (protocol §3.3, §7.1-a, §7.1-b, §7.1-g; issue 7, item 8).

A signature made for one statement type, one log origin or one purpose (statement, presentation,
checkpoint, cosignature) is invalid for every other: moved onto another object, or made by the same key
over the very same payload bytes for another purpose or origin, it is `bad_signature`. And a statement
the log accepted, of any kind, submitted again through the sequencer or the API, is `duplicate_entry`
with nothing appended.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from crypto.checkpoint import Checkpoint, parse_checkpoint, sign_checkpoint
from crypto.cosignature import cosign
from crypto.domain import sign_in_domain, signing_message
from crypto.errors import BadSignature, MalformedEncoding
from crypto.keys import SigningKey
from crypto.note import Note, NoteSignature
from crypto.notekey import SIG_TYPE_ED25519, NoteSigner, NoteVerifier, key_id, verify_note
from registry.errors import ErrorCode, Rejected, Rejection
from registry.presentation import PRESENTATION_PURPOSE, Presentation, make_presentation, presentation_payload
from registry.sequencer import Receipt
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
    Signature,
    StatementType,
    Unvouch,
    format_entry,
    format_statement,
    parse_entry,
    parse_leaf,
    purpose,
    verify_entry,
)
from registry.verify import VerificationFailed, verify_presentation
from tests.credfactory import issue, policy
from tests.factory import Log, key, mid
from tests.integration.apisupport import api_client, member_id, new_log, signed
from tests.integration.logdata import (
    DECLARATIONS,
    ORIGIN,
    T0,
    Community,
    declare_entry,
    log_signer,
    vouch_entry,
)

OTHER_ORIGIN = "registry.example/other-log"
CHALLENGE = bytes(range(16))
EVIDENCE = hashlib.sha256(b"evidence").digest()
# Purposes that are not statement purposes: every signature of the protocol is made for one of these.
OTHER_PURPOSES = (PRESENTATION_PURPOSE, "revocation-certificate", "checkpoint", "cosignature")


@dataclass(frozen=True)
class Accepted:
    """A statement a log accepted, by kind, with the keys that signed it."""

    kind: StatementType
    data: bytes
    signers: tuple[SigningKey, ...]

    @property
    def entry(self) -> Entry:
        return parse_entry(self.data)


def accepted_statements() -> list[Accepted]:
    """One accepted statement of every kind, in an order that the log of `new_log` accepts at T0:
    the genesis policy, then declare, vouch, unvouch, a council revocation, its reversal, a rotation
    and a policy amendment."""
    community = Community.make()
    f0, f1, _ = community.founders
    council = community.council[0]
    m1, m2, m1_new = Community.member(1), Community.member(2), Community.member(3)
    amendment = PolicyStatement(ORIGIN, T0, 1, (), (council.public_key,), 1, dict(DECLARATIONS), Params())
    result = [
        Accepted(StatementType.POLICY, community.genesis(), (council,)),
        Accepted(StatementType.DECLARE, declare_entry(m1, f0), (m1, f0)),
        Accepted(StatementType.VOUCH, vouch_entry(f1, m1), (f1, m1)),
        Accepted(StatementType.UNVOUCH, signed(Unvouch(ORIGIN, T0, member_id(f1), member_id(m1)), f1), (f1,)),
        Accepted(StatementType.DECLARE, declare_entry(m2, f0), (m2, f0)),
        Accepted(StatementType.REVOKE,
                 signed(Revoke(ORIGIN, T0, member_id(m2), Reason.FRAUD, EVIDENCE), council), (council,)),
        Accepted(StatementType.REINSTATE, signed(Reinstate(ORIGIN, T0, member_id(m2), EVIDENCE), council), (council,)),
        Accepted(StatementType.ROTATE,
                 signed(Rotate(ORIGIN, T0, member_id(m1), m1_new.public_key), m1, m1_new), (m1, m1_new)),
        Accepted(StatementType.POLICY, signed(amendment, council), (council,)),
    ]  # fmt: skip
    assert {a.kind for a in result} == set(StatementType)
    return result


STATEMENTS = accepted_statements()
ONE_PER_KIND = {a.kind: a for a in STATEMENTS[1:]} | {StatementType.POLICY: STATEMENTS[0]}


def _resign_entry(entry: Entry, keys: tuple[SigningKey, ...], purpose_: str, origin: str) -> Entry:
    """The same statement (same payload bytes), signed by `keys` for `purpose_` and `origin`."""
    sigs = [Signature(k.public_key, sign_in_domain(k, purpose_, origin, entry.payload)) for k in keys]
    return Entry(entry.statement, tuple(sorted(sigs, key=lambda s: s.key)), entry.payload)


def _resign(accepted: Accepted, purpose_: str, origin: str) -> Entry:
    return _resign_entry(accepted.entry, accepted.signers, purpose_, origin)


def _code(entry: Entry, origin: str = ORIGIN) -> ErrorCode:
    with pytest.raises(Rejected) as caught:
        verify_entry(entry, origin)
    return caught.value.code


def _pairs() -> Iterator[tuple[Accepted, Accepted]]:
    return itertools.permutations(ONE_PER_KIND.values(), 2)


# --- statement against statement ---------------------------------------------------------------------


def test_every_accepted_statement_verifies_as_signed() -> None:
    for accepted in STATEMENTS:
        assert verify_entry(accepted.entry, ORIGIN).entry == accepted.entry


@pytest.mark.spec("3.3-e", "7.1-b")
def test_signatures_moved_onto_another_kind_are_bad_signatures() -> None:
    for source, target in _pairs():
        moved = Entry(target.entry.statement, source.entry.signatures, target.entry.payload)
        assert _code(moved) is ErrorCode.BAD_SIGNATURE, (source.kind, target.kind)


@pytest.mark.spec("3.3-a", "3.3-e", "7.1-b")
def test_the_same_payload_signed_for_another_kind_is_a_bad_signature() -> None:
    """Sharper than moving signatures: the same keys over the same payload bytes, for another purpose."""
    for accepted in ONE_PER_KIND.values():
        for other in StatementType:
            if other is not accepted.kind:
                assert _code(_resign(accepted, purpose(other), ORIGIN)) is ErrorCode.BAD_SIGNATURE
        for other_purpose in OTHER_PURPOSES:
            assert _code(_resign(accepted, other_purpose, ORIGIN)) is ErrorCode.BAD_SIGNATURE
        # The control: re-signed for its own purpose and origin, the statement verifies.
        verify_entry(_resign(accepted, purpose(accepted.kind), ORIGIN), ORIGIN)


@pytest.mark.spec("3.3-e", "7.1-a", "7.1-b")
def test_a_signature_for_another_origin_is_invalid_in_this_log() -> None:
    for accepted in ONE_PER_KIND.values():
        # Same payload (which names this log), signed for another log's domain: bad signature.
        assert _code(_resign(accepted, purpose(accepted.kind), OTHER_ORIGIN)) is ErrorCode.BAD_SIGNATURE
        # The statement moved to the other log with its signatures: the payload changed, bad signature.
        entry = accepted.entry
        moved_statement = replace(entry.statement, origin=OTHER_ORIGIN)
        moved = Entry(moved_statement, entry.signatures, format_statement(moved_statement))
        assert _code(moved, OTHER_ORIGIN) is ErrorCode.BAD_SIGNATURE
        # Properly signed for the other log, it is refused here as another log's statement.
        unsigned = Entry(moved_statement, (), moved.payload)
        resigned = _resign_entry(unsigned, accepted.signers, purpose(accepted.kind), OTHER_ORIGIN)
        verify_entry(resigned, OTHER_ORIGIN)
        assert _code(resigned, ORIGIN) is ErrorCode.WRONG_ORIGIN



# --- checkpoints and cosignatures against statements -------------------------------------------------


@pytest.mark.spec("3.3-a", "3.3-e")
def test_a_checkpoint_signature_is_never_a_statement_signature_and_back() -> None:
    log_key = SigningKey.from_seed(hashlib.sha256(b"log key that also signs a statement").digest())
    witness = SigningKey.from_seed(hashlib.sha256(b"witness key that also signs a statement").digest())
    verifier = NoteVerifier(ORIGIN, SIG_TYPE_ED25519, log_key.public_key)
    for accepted in ONE_PER_KIND.values():
        entry = accepted.entry
        checkpoint = Checkpoint(ORIGIN, 7, hashlib.sha256(entry.payload).digest())
        note = sign_checkpoint(checkpoint, NoteSigner(ORIGIN, log_key))
        cosignature = cosign(witness, "witness.example", note.text, 1_767_225_600)
        for signer, signature in ((log_key, note.signatures[0].signature), (witness, cosignature.signature[8:])):
            moved = Entry(entry.statement, (Signature(signer.public_key, signature),), entry.payload)
            assert _code(moved) is ErrorCode.BAD_SIGNATURE
        # A statement signature by the log's key, put in the checkpoint note as the log's signature.
        statement_sig = sign_in_domain(log_key, purpose(accepted.kind), ORIGIN, entry.payload)
        forged = Note(note.text, (NoteSignature(ORIGIN, key_id(ORIGIN, SIG_TYPE_ED25519, log_key.public_key),
                                                statement_sig),))  # fmt: skip
        with pytest.raises(BadSignature):
            verify_note(forged, [verifier])
        # No signing message is a checkpoint body: its second line is a purpose, never a tree size.
        with pytest.raises(MalformedEncoding):
            parse_checkpoint(signing_message(purpose(accepted.kind), ORIGIN, entry.payload).decode("utf-8"))


# --- presentations against statements ----------------------------------------------------------------


@pytest.fixture(scope="module")
def presented() -> tuple[Log, Presentation]:
    log = Log.standard()
    log.join(key(11), key(1), key(2))
    credential = issue(log, mid(key(11))).credential
    return log, make_presentation(credential, key(11), CHALLENGE)


def _verify(p: Presentation) -> None:
    verify_presentation(p, policy(), now_ms=p.credential.state.logged_ms + 60_000, challenge=CHALLENGE)


@pytest.mark.spec("3.3-e", "8.1-h")
def test_a_presentation_signature_is_never_a_statement_signature(presented: tuple[Log, Presentation]) -> None:
    log, p = presented
    _verify(p)  # the control
    member = key(11)
    statements = [log.unvouch(member, key(1)), log.revoke_self(member, Reason.WITHDRAWN),
                  log.rotate(member, key(12)), log.vouch(member, key(1))]  # fmt: skip
    for entry in statements:
        moved = Entry(entry.statement, (Signature(member.public_key, p.signature),), entry.payload)
        with pytest.raises(Rejected) as caught:
            verify_entry(moved, log.state.origin)
        assert caught.value.code is ErrorCode.BAD_SIGNATURE
        # The member's key over the statement's own payload, for the presentation purpose.
        same_payload = sign_in_domain(member, PRESENTATION_PURPOSE, log.state.origin, entry.payload)
        moved = Entry(entry.statement, (Signature(member.public_key, same_payload),), entry.payload)
        with pytest.raises(Rejected) as caught:
            verify_entry(moved, log.state.origin)
        assert caught.value.code is ErrorCode.BAD_SIGNATURE


@pytest.mark.spec("3.3-e", "8.1-h")
def test_a_statement_signature_is_never_a_presentation_signature(presented: tuple[Log, Presentation]) -> None:
    log, p = presented
    member = key(11)
    payload = presentation_payload(p.credential, p.challenge, p.disclosure)
    declared = parse_leaf(log.leaves[1]).entry  # the member's own declaration, signed by its key
    own = next(s.signature for s in declared.signatures if s.key == member.public_key)
    forged = [own] + [sign_in_domain(member, purpose(kind), log.state.origin, payload) for kind in StatementType]
    for signature in forged:
        with pytest.raises(VerificationFailed) as caught:
            _verify(replace(p, signature=signature))
        assert caught.value.step == 7 and caught.value.rejection.code is ErrorCode.BAD_SIGNATURE
    # And the presentation signed for another log's origin.
    with pytest.raises(VerificationFailed) as caught:
        _verify(replace(p, signature=sign_in_domain(member, PRESENTATION_PURPOSE, OTHER_ORIGIN, payload)))
    assert caught.value.rejection.code is ErrorCode.BAD_SIGNATURE


# --- replay ------------------------------------------------------------------------------------------


@pytest.mark.spec("7.1-g")
def test_every_accepted_statement_resubmitted_to_the_sequencer_is_a_duplicate(tmp_path: Path) -> None:
    served = new_log(tmp_path)  # the genesis of `accepted_statements` at index 0
    sequencer = served.sequencer
    for accepted in STATEMENTS[1:]:
        assert isinstance(sequencer.submit(accepted.data), Receipt), accepted.kind
    size, checkpoint = sequencer.size, sequencer.latest_checkpoint
    for accepted in STATEMENTS:
        result = sequencer.submit(accepted.data)
        assert isinstance(result, Rejection) and result.code is ErrorCode.DUPLICATE_ENTRY, accepted.kind
        assert sequencer.size == size
    # All of them again in one batch, and twice within it: every one a duplicate, nothing written.
    results = sequencer.submit_batch([a.data for a in STATEMENTS] * 2)
    assert all(isinstance(r, Rejection) and r.code is ErrorCode.DUPLICATE_ENTRY for r in results)
    assert sequencer.size == size and sequencer.latest_checkpoint == checkpoint
    assert served.store.tree_size() == size
    served.store.close()


@pytest.mark.spec("7.1-g")
def test_a_duplicate_is_recognised_by_its_statement_not_its_signatures(tmp_path: Path) -> None:
    served = new_log(tmp_path)
    declare = STATEMENTS[1]
    assert isinstance(served.sequencer.submit(declare.data), Receipt)
    size = served.sequencer.size
    entry = declare.entry
    # The same statement with only one of its two signatures: still the same statement, a duplicate.
    fewer = Entry(entry.statement, entry.signatures[:1], entry.payload)
    result = served.sequencer.submit(format_entry(fewer))
    assert isinstance(result, Rejection) and result.code is ErrorCode.DUPLICATE_ENTRY
    assert served.sequencer.size == size
    served.store.close()


@pytest.mark.spec("7.1-g", "7.1-a")
def test_every_accepted_statement_resubmitted_over_the_api_is_409_duplicate(tmp_path: Path) -> None:
    served = new_log(tmp_path)

    async def scenario() -> None:
        async with api_client(served.app()) as client:
            for accepted in STATEMENTS[1:]:
                response = await client.post("/v1/entries", content=accepted.data)
                assert response.status_code == 201, (accepted.kind, response.text)
            size = (await client.get("/healthz")).json()["tree_size"]
            checkpoint = (await client.get("/checkpoint")).content
            for accepted in STATEMENTS:
                response = await client.post("/v1/entries", content=accepted.data)
                assert response.status_code == 409, accepted.kind
                assert response.json()["code"] == "duplicate_entry"
            # A statement of another log is refused, not replayed into this one.
            other = Community.make(founders=1)
            foreign = declare_entry(Community.member(9), other.founders[0], origin=OTHER_ORIGIN)
            response = await client.post("/v1/entries", content=foreign)
            assert response.status_code == 422 and response.json()["code"] == "wrong_origin"
            assert (await client.get("/healthz")).json()["tree_size"] == size
            assert (await client.get("/checkpoint")).content == checkpoint

    asyncio.run(scenario())
    served.store.close()


def test_the_scenario_uses_the_test_log_key() -> None:
    """`new_log` signs with `log_signer()`; the replay tests above depend on its genesis being ours."""
    assert log_signer().name == ORIGIN
    assert STATEMENTS[0].entry.statement == parse_entry(Community.make().genesis()).statement
    assert isinstance(STATEMENTS[1].entry.statement, Declare)
    assert STATEMENTS[1].entry.statement.member == MemberId(Community.member(1).public_key)
