"""The stateless half of admission runs before a statement is queued (protocol §9.2-f): an entry whose
encoding, origin or signatures are wrong is answered at once, with exactly the answer the sequencer
would give, and never waits in a batch."""

from __future__ import annotations

import asyncio
import gc
import json
from pathlib import Path

import pytest

from api.app import Settings
from crypto.keys import SigningKey
from registry.errors import ErrorCode, Rejection
from registry.sequencer import Receipt
from registry.statements import MAX_ENTRY_SIZE, format_leaf, parse_entry, verify_entry
from tests.integration.apisupport import api_client, new_log
from tests.integration.logdata import ORIGIN, Community, declare_entry

_HOUR_MS = 3_600_000


def _stateless_refusals(founder_entry: bytes, founder: SigningKey) -> dict[str, bytes]:
    """One entry for every way the stateless checks refuse, each built from a valid sponsored declaration."""
    flipped = bytearray(founder_entry)
    at = founder_entry.index(b'"sig":"') + 12
    flipped[at] = ord("A") if flipped[at] != ord("A") else ord("B")
    obj = json.loads(founder_entry)
    unsigned = dict(obj, signatures=[])
    sponsor_hex = founder.public_key.hex()
    padded = b'{"signatures":[],"statement":{"pad":"' + b"x" * (MAX_ENTRY_SIZE + 10) + b'"}}'
    return {
        "bad_signature": bytes(flipped),
        "wrong_origin": declare_entry(Community.member(7), founder, origin="other.example/log"),
        "alias": founder_entry.replace(sponsor_hex.encode(), sponsor_hex.upper().encode()),
        "not_canonical": json.dumps(obj, indent=1).encode(),
        "not_json": b"\xff\xfe not json",
        "no_signature": json.dumps(unsigned, separators=(",", ":"), sort_keys=True).encode(),
        "too_large_entry": padded,
    }


@pytest.mark.spec("9.2-f")
def test_a_stateless_refusal_is_the_sequencers_answer_and_is_given_without_waiting_for_a_batch(
    tmp_path: Path,
) -> None:
    served = new_log(tmp_path)
    founder = served.community.founders[0]
    bad = _stateless_refusals(declare_entry(Community.member(1), founder), founder)
    # What the sequencer itself answers (refused entries write nothing, so asking it directly is safe).
    expected: dict[str, Rejection] = {}
    for name, entry in bad.items():
        (result,) = served.sequencer.submit_batch([entry])
        assert isinstance(result, Rejection), name
        expected[name] = result
    assert {str(r.code) for r in expected.values()} >= {
        "bad_signature", "wrong_origin", "malformed_entry", "malformed_encoding", "too_large",
    }  # fmt: skip
    size = served.sequencer.size

    async def scenario() -> dict[str, tuple[int, dict[str, str]]]:
        # A batch window of an hour: an entry that waited for its batch would never be answered in time.
        settings = Settings(batch_ms=_HOUR_MS)
        async with api_client(served.app(settings)) as client:

            async def post(entry: bytes) -> tuple[int, dict[str, str]]:
                response = await asyncio.wait_for(client.post("/v1/entries", content=entry), timeout=60)
                return response.status_code, response.json()

            return {name: await post(entry) for name, entry in bad.items()}

    answers = asyncio.run(scenario())
    status = {"bad_signature": 403, "wrong_origin": 422, "malformed_entry": 400, "malformed_encoding": 400,
              "too_large": 413, "insufficient_signatures": 422}  # fmt: skip
    for name, (code, body) in answers.items():
        rejection = expected[name]
        assert body == {"code": str(rejection.code), "message": rejection.message, "section": rejection.section}
        assert code == status[str(rejection.code)], name
    assert served.sequencer.size == size  # nothing appended


@pytest.mark.spec("9.2-f")
def test_an_entry_that_passes_the_stateless_checks_still_goes_through_the_rules(tmp_path: Path) -> None:
    """Admission is only the stateless half: a well-signed statement that breaks a rule (a sponsor who is
    not a member) is refused by the sequencer with its own code, and an accepted one is logged once."""
    served = new_log(tmp_path)
    stranger_sponsored = declare_entry(Community.member(2), Community.member(3))
    valid = declare_entry(Community.member(1), served.community.founders[0])

    async def scenario() -> list[tuple[int, str]]:
        async with api_client(served.app(Settings(batch_ms=5))) as client:
            out = []
            for entry in (stranger_sponsored, valid, valid):
                response = await client.post("/v1/entries", content=entry)
                out.append((response.status_code, str(response.json().get("code", ""))))
            return out

    assert asyncio.run(scenario()) == [(404, "unknown_member"), (201, ""), (409, "duplicate_entry")]
    assert ORIGIN == served.sequencer.origin


@pytest.mark.spec("9.2-f")
def test_the_sequencer_takes_admitted_entries_and_refuses_one_admitted_for_another_origin(tmp_path: Path) -> None:
    served = new_log(tmp_path)
    founder = served.community.founders[0]
    here = verify_entry(parse_entry(declare_entry(Community.member(1), founder)), ORIGIN)
    other_origin = "other.example/log"
    elsewhere = verify_entry(
        parse_entry(declare_entry(Community.member(2), founder, origin=other_origin)), other_origin
    )
    results = served.sequencer.submit_batch([here, elsewhere])
    assert isinstance(results[0], Receipt)
    assert isinstance(results[1], Rejection) and results[1].code is ErrorCode.WRONG_ORIGIN
    assert served.sequencer.leaf(results[0].index) == format_leaf(
        results[0].index, served.sequencer.state.last_logged_ms if served.sequencer.state else 0, here.entry
    )


def test_the_server_freezes_the_loaded_log_out_of_the_cyclic_collectors_reach(tmp_path: Path) -> None:
    """`registry serve` (Settings.freeze_heap) moves what is alive once the log is loaded out of the
    collector's full collections; an app without the setting leaves the heap as it is."""
    served = new_log(tmp_path)

    async def frozen_while_serving(settings: Settings) -> int:
        async with api_client(served.app(settings)) as client:
            assert (await client.get("/checkpoint")).status_code == 200
            return gc.get_freeze_count()

    gc.unfreeze()
    try:
        assert asyncio.run(frozen_while_serving(Settings(batch_ms=5))) == 0
        assert asyncio.run(frozen_while_serving(Settings(batch_ms=5, freeze_heap=True))) > 1000
    finally:
        gc.unfreeze()  # this test process's objects go back to the collector
