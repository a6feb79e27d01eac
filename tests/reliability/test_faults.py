"""Storage fault injection (issue 7 item 2; scripts/fault_inject.py): a failure at every write step of
an append, before and after its commit, ends acknowledged and present or refused and absent, and the
log verifies after a restart (protocol §5.6-d, §5.6-h, §9.2-c).

The points are the calls the store makes to its `Faults` hook during one append, recorded rather than
listed (every name of `STEPS`, and any step a later version adds; the batch's state leaf is written in
the `entries` step). Each is run through the sequencer (the script's cases, on SQLite and PostgreSQL)
and through the HTTP API of the in-process app, where the client sees `503 unavailable` and resolves it
by resubmitting, to the same server or to a restarted one. The witness round, which runs after the
commit outside the store, is faulted in its transport, before and after the witness cosigns.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import Settings, create_app
from api.runtime import OpenedLog
from crypto.checkpoint import open_checkpoint
from crypto.cosignature import verify_cosignatures
from crypto.note import parse_note
from crypto.notekey import parse_vkey
from registry.datadir import open_data_dir
from registry.sequencer import Sequencer
from registry.store import STEPS, Faults, Store
from registry.witness.config import WitnessConfig, add_witness, load_witness_config, save_witness_config, set_quorum
from registry.witness.publisher import Publisher
from tests.conftest import postgres_url
from tests.integration.apisupport import api_client, check_receipt
from tests.reliability import load_script
from tests.witnessing import WitnessRouter, make_witness, witness_verifier, witness_vkey

fault_inject = load_script("fault_inject")

Fresh = Callable[[], contextlib.AbstractContextManager[str | None]] | None


@pytest.fixture(name="fresh_database", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_database_fixture(request: pytest.FixtureRequest) -> Fresh:
    """None for SQLite; for PostgreSQL, a factory of fresh schemas (one per log)."""
    if request.param == "sqlite":
        return None
    base = postgres_url()
    return lambda: fault_inject.postgres_schema(base)


def test_every_step_of_the_store_calls_the_hook(tmp_path: Path) -> None:
    points = fault_inject.record_points(tmp_path)
    before = [p.step for p in points if p.hook == "before"]
    assert set(STEPS) <= set(before), f"steps without a hook call: {set(STEPS) - set(before)}"
    assert [p for p in points if p.hook == "after"], "no hook after the commit"
    # Before-commit points come first, in the order of STEPS, and the after-commit ones last.
    assert [s for s in before if s in STEPS] == [s for s in STEPS if s in before]
    assert points.index(next(p for p in points if p.hook == "after")) == len(before)


@pytest.mark.spec("5.6-d", "5.6-h", "9.2-c")
def test_a_fault_at_every_point_ends_refused_and_absent_or_present_and_the_log_verifies(
    tmp_path: Path, fresh_database: Fresh
) -> None:
    report = fault_inject.run_fault_injection(tmp_path, fresh_database)
    assert report.violations == [], "\n".join(report.lines())
    assert len(report.cases) == len(report.points) * len(fault_inject.RESOLUTIONS)
    for case in report.cases:
        assert case.fired and case.audit_ok
        if case.point.hook == "before":
            assert case.outcome == "refused and absent", case
            assert case.resubmitted == "receipts"
        else:
            assert case.present_after == "all", case
            assert case.resubmitted == "duplicate_entry"


# --- through the HTTP API ----------------------------------------------------------------------------


def _source(path: Path, faults: Faults | None) -> Callable[[], contextlib.AbstractContextManager[OpenedLog]]:
    @contextlib.contextmanager
    def opened() -> Iterator[OpenedLog]:
        data = open_data_dir(path)
        with Store.open(data.database_url({}), writable=True, faults=faults) as store:
            yield OpenedLog(store, Sequencer.open(store, data.signer(), lambda: fault_inject.NOW_MS))

    return opened


async def _post_all(client: httpx.AsyncClient, entries: list[bytes]) -> list[httpx.Response]:
    headers = {"content-type": "application/json"}
    return list(await asyncio.gather(*(client.post("/v1/entries", content=e, headers=headers) for e in entries)))


def _code(response: httpx.Response) -> str:
    body: dict[str, Any] = response.json()
    return str(body.get("code"))


async def _api_case(path: Path, point: Any, resolution: str, entries: list[bytes]) -> list[str]:
    """One fault through the API; returns the violations found."""
    problems: list[str] = []
    verifier = parse_vkey(open_data_dir(path).config.log_vkey)
    faults = fault_inject.FaultAt(point)
    app = create_app(_source(path, faults), Settings(batch_ms=50))
    async with api_client(app) as client:
        faults.arm()
        first = await _post_all(client, entries)
        if resolution == "retry":
            again = await _post_all(client, [e for e, r in zip(entries, first, strict=True) if r.status_code != 201])
    if not faults.fired:
        problems.append("the fault point was not reached")
    if resolution == "restart":
        async with api_client(create_app(_source(path, None), Settings(batch_ms=50))) as client:
            again = await _post_all(client, [e for e, r in zip(entries, first, strict=True) if r.status_code != 201])
    refused = [r for r in first if r.status_code != 201]
    for response in refused:  # the failure reaches the client as the store's own error, [9.2-c]
        if response.status_code != 503 or _code(response) != "unavailable":
            problems.append(f"a faulted submission got {response.status_code} {_code(response)}")
    if not refused:
        problems.append("no submission saw the fault")
    expected = 201 if point.hook == "before" else 409
    for response in again:
        if response.status_code != expected or (expected == 409 and _code(response) != "duplicate_entry"):
            problems.append(f"a resubmission got {response.status_code}, expected {expected}")
    for entry, response in zip(entries, first, strict=True):
        if response.status_code == 201:
            check_receipt(response.json(), entry, origin=fault_inject.ORIGIN, verifier=verifier)
    with fault_inject.open_sequencer(path) as sequencer:  # replays and checks the stored log ([5.6-h])
        present = fault_inject._present(sequencer, entries)
        for response in [*first, *again]:
            if response.status_code == 201:
                body = response.json()
                index = int(body["index"])
                if body["leaf_hash"] != fault_inject.leaf_hash(sequencer.leaf(index)).hex():
                    problems.append(f"acknowledged index {index} holds another leaf")
    if any(p is None for p in present):
        problems.append("a statement is missing after the resubmission")
    code, output = fault_inject.audit_data_dir(path)
    if code != 0:
        problems.append(f"registry audit --data failed: {output.strip()[-200:]}")
    return problems


@pytest.mark.spec("5.6-d", "9.2-a", "9.2-c")
def test_a_fault_through_the_api_is_a_503_that_a_resubmission_resolves(tmp_path: Path) -> None:
    points = fault_inject.record_points(tmp_path / "record")
    failures = []
    for n, point in enumerate(points):
        for resolution in fault_inject.RESOLUTIONS:
            path = fault_inject.make_log(tmp_path / f"case-{n}-{resolution}")
            entries = fault_inject.statements(2000, 3)
            for problem in asyncio.run(_api_case(path, point, resolution, entries)):
                failures.append(f"{point} / {resolution}: {problem}")
    assert failures == []


# --- the witness round (protocol §6.3-b, §6.3-c) -------------------------------------------------------
# Not a step of the store: the batcher collects the witnesses' cosignatures after the commit. Its two
# failure points are injected in the transport to a real in-process witness: "before" (the request never
# reaches the witness) and "after" (the witness verified, stored the new size and cosigned; the answer
# is lost). Either way the batch is committed and unpublished: the client gets 503
# `witness_quorum_unavailable`, a resubmission is `duplicate_entry`, and the next batch is published
# with the witness's cosignature, on the same server or a restarted one.


class _FlakyWitness:
    """A transport to a real witness (`WitnessRouter`) that fails once, when armed."""

    def __init__(self, router: WitnessRouter, hook: str) -> None:
        self.router, self.hook = router, hook
        self.armed = self.fired = False
        self.transport = httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        if self.armed and not self.fired:
            self.fired = True
            if self.hook == "before":
                raise httpx.ConnectError("injected: the witness is unreachable", request=request)
            self.router.transport.handle_request(request)  # the witness cosigns and stores the size
            raise httpx.ReadError("injected: the witness's answer was lost", request=request)
        return self.router.transport.handle_request(request)


def _stored_root(sequencer: Sequencer, size: int) -> bytes | None:
    note = sequencer.checkpoint(size)
    return None if note is None else open_checkpoint(note, sequencer.verifier)[0].root_hash


def _witnessed_source(
    path: Path, transport: httpx.BaseTransport, publishers: list[Publisher]
) -> Callable[[], contextlib.AbstractContextManager[OpenedLog]]:
    """As `api.app.data_dir_source` for a log with witnesses, with the witness transport injected, and
    retries only at startup (so that no retry races the batch for the injected failure)."""

    @contextlib.contextmanager
    def opened() -> Iterator[OpenedLog]:
        data = open_data_dir(path)
        with Store.open(data.database_url({}), writable=True) as store:
            sequencer = Sequencer.open(store, data.signer(), lambda: fault_inject.NOW_MS)
            publisher = Publisher(sequencer.verifier, load_witness_config(path), sequencer.consistency_proof,
                                  directory=path, transport=transport, timeout=5)
            publishers.append(publisher)
            try:
                publisher.restore(lambda size: _stored_root(sequencer, size))
                publisher.start_retries(lambda: sequencer.latest_checkpoint, interval_s=3600)
                yield OpenedLog(store, sequencer, publisher)
            finally:
                publisher.close()

    return opened


async def _until_published(publisher: Publisher, size: int) -> None:
    for _ in range(500):
        if publisher.published_size >= size:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the checkpoint of size {size} was never published")


async def _witness_case(tmp_path: Path, hook: str, resolution: str) -> None:
    path = fault_inject.make_log(tmp_path / "log")
    signer = open_data_dir(path).signer()
    config = set_quorum(add_witness(WitnessConfig(0, ()), witness_vkey(1), "http://witness1.test"), 1)
    save_witness_config(path, config)
    router = WitnessRouter({"witness1.test": make_witness(tmp_path, 1, logs=(signer,))})
    flaky = _FlakyWitness(router, hook)
    publishers: list[Publisher] = []
    entries = fault_inject.statements(3000, 3)
    app = create_app(_witnessed_source(path, flaky.transport, publishers), Settings(batch_ms=50))
    async with api_client(app) as client:
        with fault_inject.open_sequencer(path) as reader:
            await _until_published(publishers[-1], reader.size)  # the startup publication, unfaulted
        flaky.armed = True
        first = await _post_all(client, entries)
        assert flaky.fired
        refused = [r for r in first if r.status_code != 201]
        assert refused, "no submission saw the witness failure"
        assert {(r.status_code, _code(r)) for r in refused} == {(503, "witness_quorum_unavailable")}
        # Nothing unwitnessed is published: GET /checkpoint still serves an older, cosigned checkpoint.
        published = (await client.get("/checkpoint")).content
        with fault_inject.open_sequencer(path) as reader:
            assert open_checkpoint(published, reader.verifier)[0].size < reader.size
        if resolution == "retry":
            again = await _post_all(client, [e for e, r in zip(entries, first, strict=True) if r.status_code != 201])
            fresh = await _post_all(client, fault_inject.statements(3100, 1))
    if resolution == "restart":
        restarted = create_app(_witnessed_source(path, router.transport, publishers), Settings(batch_ms=50))
        async with api_client(restarted) as client:
            again = await _post_all(client, [e for e, r in zip(entries, first, strict=True) if r.status_code != 201])
            fresh = await _post_all(client, fault_inject.statements(3100, 1))
    # The refused statements were logged all the same ([9.2-c]); the next batch is witnessed again.
    assert {(r.status_code, _code(r)) for r in again} == {(409, "duplicate_entry")}
    assert fresh[0].status_code == 201, fresh[0].text
    note = str(fresh[0].json()["checkpoint"]).encode()
    verify_cosignatures(parse_note(note), [witness_verifier(1)], 1)
    with fault_inject.open_sequencer(path) as sequencer:
        assert all(i is not None for i in fault_inject._present(sequencer, entries))
        assert open_checkpoint(note, sequencer.verifier)[0].size == sequencer.size
    code, output = fault_inject.audit_data_dir(path)
    assert code == 0, output


@pytest.mark.spec("9.2-c")
@pytest.mark.parametrize("resolution", ["retry", "restart"])
@pytest.mark.parametrize("hook", ["before", "after"])
def test_a_witness_round_failure_is_a_503_the_entries_stay_logged_and_the_next_batch_is_witnessed(
    tmp_path: Path, hook: str, resolution: str
) -> None:
    asyncio.run(_witness_case(tmp_path, hook, resolution))
