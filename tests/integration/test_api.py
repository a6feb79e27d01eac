"""The REST API through an in-process httpx client (protocol §9.1 to §9.4, §10): receipts that verify,
the error table, limits, batches, the dry run, members, policy, proofs, the checkpoint and tiles."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

import api
from api.app import BATCH_MS_ENV, DATA_ENV, FULL_CHECK_ENV, MAX_BODY, SNAPSHOT_EVERY_ENV, Settings
from api.errors import STATUS, codes_for
from crypto.checkpoint import open_checkpoint
from crypto.merkle import leaf_hash
from crypto.proof import verify_consistency, verify_inclusion
from crypto.tiles import parse_entry_bundle, parse_hash_tile, verify_entry_bundle, verify_tiles
from registry.cli import cmd_serve
from registry.errors import ErrorCode, Rejection
from registry.sequencer import Receipt, Sequencer
from registry.statements import (
    Reason,
    Revoke,
    Rotate,
    VerifiedEntry,
    Vouch,
    declaration_hash,
    format_leaf,
    parse_entry,
)
from registry.store import StoreMismatch, StoreUnavailable
from tests.integration.apisupport import BUSY, ServedLog, api_client, check_receipt, member_id, new_log, signed
from tests.integration.logdata import ORIGIN, T0, Community, declare_entry, log_signer, vouch_entry


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedLog]:
    log = new_log(tmp_path, params=BUSY)
    yield log
    log.store.close()


def error_of(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"code", "message", "section"}
    assert response.headers["content-type"] == "application/json"
    assert STATUS[ErrorCode(body["code"])] == response.status_code or response.status_code == 405
    return body  # type: ignore[no-any-return]


# --- POST /v1/entries ------------------------------------------------------------------------------------


@pytest.mark.spec("9.2-a", "9.2-b")
def test_submit_returns_receipt_that_verifies_against_the_log_key(served: ServedLog) -> None:
    entry = declare_entry(Community.member(1), served.community.founders[0])

    async def scenario() -> httpx.Response:
        async with api_client(served.app()) as client:
            return await client.post("/v1/entries", content=entry, headers={"content-type": "application/json"})

    response = run(scenario())
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"index", "logged_ms", "leaf_hash", "tree_size", "checkpoint", "inclusion_proof"}
    checkpoint = check_receipt(body, entry)
    assert body["index"] >= 1 and checkpoint.size == served.sequencer.size
    # The receipt is only sent once committed: the stored leaf is the one the receipt names.
    index = body["index"]
    assert served.sequencer.leaf(index) == format_leaf(index, body["logged_ms"], parse_entry(entry))
    assert served.store.checkpoint(checkpoint.size) == body["checkpoint"].encode("utf-8")


@pytest.mark.spec("9.2-c", "9.1-a")
def test_refused_statements_get_the_status_of_their_code_and_write_nothing(served: ServedLog) -> None:
    founders = served.community.founders
    good = declare_entry(Community.member(1), founders[0])
    tampered = json.loads(declare_entry(Community.member(2), founders[0]))
    sig = bytearray(base64.b64decode(tampered["signatures"][0]["sig"]))
    sig[0] ^= 1
    tampered["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    bad_sig = json.dumps(tampered, separators=(",", ":"), ensure_ascii=False).encode()
    unknown_subject = vouch_entry(founders[0], Community.member(99))
    self_vouch = signed(Vouch(ORIGIN, T0, member_id(founders[1]), member_id(founders[1]), None), founders[1])

    async def scenario() -> list[httpx.Response]:
        async with api_client(served.app()) as client:
            first = await client.post("/v1/entries", content=good)
            assert first.status_code == 201
            sizes.append(served.sequencer.size)
            return [
                await client.post("/v1/entries", content=body)
                for body in (good, bad_sig, unknown_subject, self_vouch, b"{not json", b'{"a":1}')
            ]

    sizes: list[int] = []
    responses = run(scenario())
    got = [(r.status_code, error_of(r)["code"]) for r in responses]
    assert got == [
        (409, "duplicate_entry"),
        (403, "bad_signature"),
        (404, "unknown_member"),
        (422, "self_vouch"),
        (400, "malformed_encoding"),
        (400, "malformed_entry"),
    ]
    assert sizes == [served.sequencer.size]  # nothing written for the refused statements


@pytest.mark.spec("9.1-e", "9.1-a")
def test_rate_limited_statement_gets_429_with_retry_after(tmp_path: Path) -> None:
    served = new_log(tmp_path, params=replace(BUSY, rate_limit_per_day=1))
    founder = served.community.founders[0]

    async def scenario() -> list[httpx.Response]:
        async with api_client(served.app()) as client:
            return [
                await client.post("/v1/entries", content=declare_entry(Community.member(i), founder)) for i in (1, 2)
            ]

    first, second = run(scenario())
    served.store.close()
    assert first.status_code == 201
    assert second.status_code == 429
    assert error_of(second)["code"] == "rate_limited"
    assert int(second.headers["retry-after"]) > 0


@pytest.mark.spec("9.1-c")
def test_body_over_the_limit_is_413_whatever_content_length_says(served: ServedLog) -> None:
    pulled = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(1000):  # 16 MB if it were read to the end
            pulled += 1
            yield b" " * 16_384

    async def scenario() -> list[httpx.Response]:
        async with api_client(served.app()) as client:
            declared = await client.post("/v1/entries", content=b"x" * (MAX_BODY + 1))
            chunked = await client.post("/v1/entries", content=chunks())
            validate = await client.post("/v1/validate", content=b"x" * (MAX_BODY + 1))
            at_limit = await client.post("/v1/entries", content=b" " * MAX_BODY)
            return [declared, chunked, validate, at_limit]

    declared, chunked, validate, at_limit = run(scenario())
    for response in (declared, chunked, validate):
        assert response.status_code == 413
        assert error_of(response)["code"] == "too_large"
    assert pulled <= MAX_BODY // 16_384 + 2  # the server stopped reading right after the limit
    # Exactly 64 KiB is read, and refused by the entry parser (its own limit, §4.2-a), not the transport's.
    assert error_of(at_limit)["section"] == "4.2-a"


class _GatedSequencer(Sequencer):
    """A sequencer whose writes wait for the test to open a gate."""

    gate = threading.Event()
    entered = threading.Event()

    def submit_batch(self, entries: Sequence[bytes | VerifiedEntry]) -> list[Receipt | Rejection]:
        type(self).entered.set()
        type(self).gate.wait(timeout=30)
        return super().submit_batch(entries)


@pytest.mark.spec("9.1-d", "9.1-e")
def test_full_queue_is_503_with_retry_after_and_queued_statements_are_still_logged(tmp_path: Path) -> None:
    _GatedSequencer.gate.clear()
    _GatedSequencer.entered.clear()
    served = new_log(tmp_path, params=BUSY, sequencer_class=_GatedSequencer)
    founder = served.community.founders[0]
    entries = [declare_entry(Community.member(i), founder) for i in range(4)]

    async def scenario() -> tuple[list[httpx.Response], httpx.Response]:
        async with api_client(served.app(Settings(batch_ms=0, max_batch=1, max_pending=2))) as client:
            first = asyncio.create_task(client.post("/v1/entries", content=entries[0]))
            await asyncio.to_thread(_GatedSequencer.entered.wait, 30)  # the first batch is in the sequencer
            queued = [asyncio.create_task(client.post("/v1/entries", content=e)) for e in entries[1:3]]
            await asyncio.sleep(0.05)
            refused = await client.post("/v1/entries", content=entries[3])
            _GatedSequencer.gate.set()
            return [await first, *[await q for q in queued]], refused

    accepted, refused = run(scenario())
    served.store.close()
    assert refused.status_code == 503
    assert error_of(refused)["code"] == "unavailable"
    assert int(refused.headers["retry-after"]) > 0
    assert [r.status_code for r in accepted] == [201, 201, 201]


@pytest.mark.spec("9.2-d")
def test_statements_arriving_together_share_one_batch_and_one_checkpoint(served: ServedLog) -> None:
    founders = served.community.founders
    entries = [declare_entry(Community.member(i), founders[i % 3]) for i in range(3)]
    entries.append(vouch_entry(founders[0], Community.member(500)))  # unknown subject: refused in the batch

    async def scenario() -> list[httpx.Response]:
        # The window is far longer than the test: the batch is committed because it is full.
        async with api_client(served.app(Settings(batch_ms=60_000, max_batch=4))) as client:
            return list(await asyncio.gather(*(client.post("/v1/entries", content=e) for e in entries)))

    checkpoints_before = len(list(served.store.iter_checkpoints()))
    responses = run(scenario())
    assert [r.status_code for r in responses] == [201, 201, 201, 404]
    bodies = [r.json() for r in responses[:3]]
    assert {b["checkpoint"] for b in bodies} == {bodies[0]["checkpoint"]}
    assert {b["tree_size"] for b in bodies} == {served.sequencer.size}
    assert len({b["index"] for b in bodies}) == 3
    assert {b["logged_ms"] for b in bodies} == {bodies[0]["logged_ms"]}
    for body, entry in zip(bodies, entries, strict=False):
        check_receipt(body, entry)
    # One checkpoint was signed for the batch.
    assert len(list(served.store.iter_checkpoints())) == checkpoints_before + 1


@pytest.mark.spec("9.2-d")
def test_without_a_window_each_statement_is_its_own_batch(served: ServedLog) -> None:
    founder = served.community.founders[0]

    async def scenario() -> list[httpx.Response]:
        async with api_client(served.app(Settings(batch_ms=0))) as client:
            entries = [declare_entry(Community.member(i), founder) for i in (1, 2)]
            return [await client.post("/v1/entries", content=e) for e in entries]

    first, second = run(scenario())
    assert first.json()["checkpoint"] != second.json()["checkpoint"]
    assert first.json()["tree_size"] < second.json()["tree_size"] == served.sequencer.size


class _FailAfterCommit:
    """A `Faults` whose first append commits, then reports the database as lost."""

    def __init__(self) -> None:
        self.armed = True

    def before_commit(self, step: str) -> None:
        return None

    def after_commit(self, step: str) -> None:
        if step == "append" and self.armed:
            self.armed = False
            raise StoreUnavailable("the connection was lost")


@pytest.mark.spec("9.2-c", "9.1-e")
def test_unknown_commit_outcome_is_503_and_a_resubmission_finds_the_entry(tmp_path: Path) -> None:
    faults = _FailAfterCommit()
    faults.armed = False  # not during genesis
    served = new_log(tmp_path, params=BUSY, faults=faults)
    entry = declare_entry(Community.member(1), served.community.founders[0])
    faults.armed = True

    async def scenario() -> list[httpx.Response]:
        async with api_client(served.app()) as client:
            return [await client.post("/v1/entries", content=entry) for _ in range(2)]

    lost, again = run(scenario())
    served.store.close()
    assert lost.status_code == 503 and error_of(lost)["code"] == "unavailable"
    assert "retry-after" in lost.headers
    assert again.status_code == 409 and error_of(again)["code"] == "duplicate_entry"


# --- POST /v1/validate -----------------------------------------------------------------------------------


@pytest.mark.spec("9.2-e")
def test_validate_is_a_dry_run(served: ServedLog) -> None:
    founders = served.community.founders
    good = declare_entry(Community.member(1), founders[0])

    async def scenario() -> list[httpx.Response]:
        async with api_client(served.app()) as client:
            return [
                await client.post("/v1/validate", content=good),
                await client.post("/v1/validate", content=vouch_entry(founders[0], Community.member(7))),
                await client.post("/v1/validate", content=b"[]"),
            ]

    size = served.sequencer.size
    ok, refused, malformed = run(scenario())
    assert ok.status_code == 200 and ok.json() == {"ok": True}
    assert refused.status_code == 200
    assert refused.json() == {
        "ok": False,
        "code": "unknown_member",
        "message": "the subject is not a member of this registry",
        "section": "7.3-e",
    }
    assert malformed.status_code == 200 and malformed.json()["code"] in {"malformed_entry", "malformed_encoding"}
    assert served.sequencer.size == size  # nothing written


# --- GET /v1/members, /v1/policy -------------------------------------------------------------------------


@pytest.mark.spec("9.3-a")
def test_member_view_by_member_id_current_key_and_retired_key(tmp_path: Path) -> None:
    served = new_log(tmp_path)  # default params: two vouches to be verified
    founders = served.community.founders
    newcomer, new_key = Community.member(1), Community.member(2)
    entries = [
        declare_entry(newcomer, founders[0]),
        vouch_entry(founders[1], newcomer),
        signed(Rotate(ORIGIN, T0, member_id(newcomer), new_key.public_key), newcomer, new_key),
    ]

    indexes: list[int] = []

    async def scenario() -> dict[str, httpx.Response]:
        async with api_client(served.app()) as client:
            for e in entries:
                response = await client.post("/v1/entries", content=e)
                assert response.status_code == 201
                indexes.append(response.json()["index"])
            ids = {
                "member": newcomer.public_key.hex(),
                "current": new_key.public_key.hex(),
                "unknown": Community.member(3).public_key.hex(),
                "upper": newcomer.public_key.hex().upper(),
                "short": "ab" * 31,
                "not-hex": "zz" * 32,
            }
            return {name: await client.get(f"/v1/members/{value}") for name, value in ids.items()}

    got = run(scenario())
    body = got["member"].json()
    assert got["member"].status_code == 200
    assert body == {
        "member": newcomer.public_key.hex(),
        "key": new_key.public_key.hex(),
        "status": "verified",
        "valid_vouches": 2,
        "founder": False,
        "commitment": None,
        "revocation_reason": None,
        "strikes": 0,
        "history": indexes,
        "tree_size": served.sequencer.size,
    }
    assert got["current"].json() == body
    assert got["unknown"].status_code == 404 and error_of(got["unknown"])["code"] == "unknown_member"
    for name in ("upper", "short", "not-hex"):
        assert got[name].status_code == 400 and error_of(got[name])["code"] == "malformed_encoding"
    served.store.close()


@pytest.mark.spec("9.3-a")
def test_member_view_of_a_revoked_member(served: ServedLog) -> None:
    founder = served.community.founders[0]
    member = Community.member(1)

    revoke = signed(Revoke(ORIGIN, T0, member_id(member), Reason.WITHDRAWN, None), member)
    indexes: list[int] = []

    async def scenario() -> httpx.Response:
        async with api_client(served.app()) as client:
            for entry in (declare_entry(member, founder), revoke):
                response = await client.post("/v1/entries", content=entry)
                assert response.status_code == 201
                indexes.append(response.json()["index"])
            return await client.get(f"/v1/members/{member.public_key.hex()}")

    body = run(scenario()).json()
    assert (body["status"], body["revocation_reason"], body["history"]) == ("revoked", "withdrawn", indexes)


@pytest.mark.spec("9.3-b")
def test_policy_shows_the_rules_and_declaration_hashes(served: ServedLog) -> None:
    async def scenario() -> httpx.Response:
        async with api_client(served.app()) as client:
            return await client.get("/v1/policy")

    response = run(scenario())
    body = response.json()
    policy = served.sequencer.state.policy  # type: ignore[union-attr]
    assert response.status_code == 200
    assert body["origin"] == ORIGIN and body["version"] == 0 and body["threshold"] == 1
    assert body["council"] == [k.hex() for k in policy.council]
    assert body["params"]["rate_limit_per_day"] == BUSY.rate_limit_per_day
    assert set(body["declarations"]) == {"en", "ru"}
    for item in body["declarations"].values():
        assert item["sha256"] == declaration_hash(item["text"]).hex()
    assert body["tree_size"] == served.sequencer.size


# --- proofs ----------------------------------------------------------------------------------------------


def _fill(served: ServedLog, count: int, *, batch: int = 64, start: int = 0) -> None:
    """Append `count` declarations (of members start, start + 1, ...) straight through the sequencer, in
    batches of `batch`."""
    founders = served.community.founders
    done = start
    while done < start + count:
        n = min(batch, start + count - done)
        entries = [declare_entry(Community.member(i), founders[i % len(founders)]) for i in range(done, done + n)]
        assert all(isinstance(r, Receipt) for r in served.sequencer.submit_batch(entries))
        done += n


def _root(served: ServedLog, size: int) -> bytes:
    note = served.store.checkpoint(size)
    assert note is not None
    return open_checkpoint(note, log_signer().verifier, origin=ORIGIN)[0].root_hash


def _sizes(served: ServedLog) -> list[int]:
    """The tree sizes the log signed checkpoints for, increasing."""
    return [size for size, _ in served.store.iter_checkpoints()]


@pytest.mark.spec("9.3-c", "9.1-b")
def test_inclusion_proofs_verify_and_ranges_are_checked(served: ServedLog) -> None:
    _fill(served, 9, batch=3)
    mid, last = _sizes(served)[-2], _sizes(served)[-1]

    async def scenario() -> dict[str, httpx.Response]:
        async with api_client(served.app()) as client:
            queries = {
                "ok": f"index={mid - 2}&size={mid}",
                "last": f"index={last - 1}&size={last}",
                "index-not-below": f"index={mid}&size={mid}",
                "beyond": f"index=1&size={last + 1}",
                "missing": "index=1",
                "negative": "index=-1&size=4",
                "text": "index=a&size=4",
                "huge": f"index=0&size={2**64}",
            }
            return {k: await client.get(f"/v1/proof/inclusion?{q}") for k, q in queries.items()}

    got = run(scenario())
    for name, index, size in (("ok", mid - 2, mid), ("last", last - 1, last)):
        body = got[name].json()
        assert body["index"] == index and body["tree_size"] == size
        leaf = leaf_hash(served.sequencer.leaf(index))
        verify_inclusion(leaf, index, size, [bytes.fromhex(h) for h in body["inclusion_proof"]], _root(served, size))
    assert got["beyond"].status_code == 404 and error_of(got["beyond"])["code"] == "not_found"
    for name in ("index-not-below", "missing", "negative", "text", "huge"):
        assert got[name].status_code == 400, name
        assert error_of(got[name])["code"] == "malformed_encoding"


@pytest.mark.spec("9.3-d")
def test_consistency_proofs_verify_and_ranges_are_checked(served: ServedLog) -> None:
    _fill(served, 9, batch=3)
    first, second, third, last = _sizes(served)[0], _sizes(served)[1], _sizes(served)[2], _sizes(served)[-1]

    async def scenario() -> dict[str, httpx.Response]:
        async with api_client(served.app()) as client:
            queries = {
                "a": f"old={second}&new={last}",
                "b": f"old={first}&new={third}",
                "0-7": f"old=0&new={third}",
                "7-7": f"old={third}&new={third}",
                "backwards": f"old={third}&new={second}",
                "beyond": f"old={second}&new={last + 1}",
            }
            return {k: await client.get(f"/v1/proof/consistency?{q}") for k, q in queries.items()}

    got = run(scenario())
    for name, old, new in (("a", second, last), ("b", first, third)):
        body = got[name].json()
        assert (body["old"], body["new"]) == (old, new)
        proof = [bytes.fromhex(h) for h in body["consistency_proof"]]
        verify_consistency(old, new, _root(served, old), _root(served, new), proof)
    assert got["0-7"].json()["consistency_proof"] == [] and got["7-7"].json()["consistency_proof"] == []
    assert got["backwards"].status_code == 400 and error_of(got["backwards"])["code"] == "malformed_encoding"
    assert got["beyond"].status_code == 404 and error_of(got["beyond"])["code"] == "not_found"


@pytest.mark.spec("9.3-e")
def test_healthz_reports_the_tree_size(served: ServedLog) -> None:
    async def scenario() -> httpx.Response:
        async with api_client(served.app()) as client:
            return await client.get("/healthz")

    assert run(scenario()).json() == {"status": "ok", "tree_size": served.sequencer.size}


def test_before_startup_every_operation_is_503(served: ServedLog) -> None:
    async def scenario() -> httpx.Response:
        transport = httpx.ASGITransport(app=served.app(), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get("/healthz")

    response = run(scenario())
    assert response.status_code == 503 and error_of(response)["code"] == "unavailable"


# --- checkpoint and tiles --------------------------------------------------------------------------------


@pytest.mark.spec("9.4-a")
def test_checkpoint_is_the_latest_signed_note_as_text(served: ServedLog) -> None:
    _fill(served, 4, batch=4)

    async def scenario() -> httpx.Response:
        async with api_client(served.app()) as client:
            return await client.get("/checkpoint")

    response = run(scenario())
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=2"
    assert response.content == served.sequencer.latest_checkpoint
    checkpoint, _ = open_checkpoint(response.content, log_signer().verifier, origin=ORIGIN)
    assert checkpoint.size == served.sequencer.size


@pytest.mark.spec("9.4-b", "9.4-c", "9.4-d")
def test_tiles_and_bundles_rebuild_the_checkpoint_root(served: ServedLog) -> None:
    # A tree of 261 to 262 leaves: one full level-0 tile, a partial one of width w >= 5, tile/1/000.p/1.
    _fill(served, 250, batch=125)
    added = 250
    while served.sequencer.size < 261:
        _fill(served, 1, start=added)
        added += 1
    size = served.sequencer.size
    w = size - 256
    assert 5 <= w <= 6

    async def scenario() -> dict[str, httpx.Response]:
        async with api_client(served.app()) as client:
            paths = [
                "0/000",
                f"0/001.p/{w}",
                "0/001.p/3",
                "1/000.p/1",
                "entries/000",
                f"entries/001.p/{w}",
                "entries/001.p/2",
                f"0/001.p/{w + 1}",
                "0/001",
                "entries/002.p/1",
                "1/000",
                "2/000.p/1",
                "0/1",
                "00/000",
                "0/x000/000",
                "0/000.p/0",
                "0/000.p/256",
                "entries/000.p/005",
            ]
            return {p: await client.get(f"/tile/{p}") for p in paths}

    got = run(scenario())
    for path in ("0/000", "entries/000"):
        assert got[path].status_code == 200
        assert got[path].headers["cache-control"] == "public, max-age=31536000, immutable"
        assert got[path].headers["content-type"] == "application/octet-stream"
    for path in (f"0/001.p/{w}", "0/001.p/3", "1/000.p/1", f"entries/001.p/{w}", "entries/001.p/2"):
        assert got[path].status_code == 200, path
        assert got[path].headers["cache-control"] == "public, max-age=2"
    full = parse_hash_tile(got["0/000"].content, 256)
    assert full == [leaf_hash(served.sequencer.leaf(i)) for i in range(256)]
    partial = got[f"0/001.p/{w}"].content
    assert got["0/001.p/3"].content == partial[: 3 * 32]
    # The tiles a client needs for this size give the checkpoint's root hash.
    verify_tiles(
        size, _root(served, size), {(0, 0): got["0/000"].content, (0, 1): partial, (1, 0): got["1/000.p/1"].content}
    )
    # Bundles hold the stored leaf bytes, and hash to the level-0 tile.
    bundle = parse_entry_bundle(got["entries/000"].content, 256)
    assert bundle == served.sequencer.leaves(0, 256)
    verify_entry_bundle(bundle, got["0/000"].content)
    verify_entry_bundle(parse_entry_bundle(got[f"entries/001.p/{w}"].content, w), partial)
    assert parse_entry_bundle(got["entries/001.p/2"].content, 2) == served.sequencer.leaves(256, 258)
    for path in (f"0/001.p/{w + 1}", "0/001", "entries/002.p/1", "1/000", "2/000.p/1"):
        assert got[path].status_code == 404, path
        assert error_of(got[path])["code"] == "not_found"
    for path in ("0/1", "00/000", "0/x000/000", "0/000.p/0", "0/000.p/256", "entries/000.p/005"):
        assert got[path].status_code == 400, path
        assert error_of(got[path])["code"] == "malformed_encoding"


# --- errors, OpenAPI, settings ------------------------------------------------------------------------------


@pytest.mark.spec("9.1-a", "10-a")
def test_the_status_table_covers_every_code() -> None:
    assert set(STATUS) == set(ErrorCode)
    assert {STATUS[c] for c in (ErrorCode.MALFORMED_ENCODING, ErrorCode.MALFORMED_ENTRY)} == {400}
    assert STATUS[ErrorCode.BAD_SIGNATURE] == 403
    assert STATUS[ErrorCode.UNKNOWN_MEMBER] == STATUS[ErrorCode.NOT_FOUND] == 404
    assert STATUS[ErrorCode.DUPLICATE_ENTRY] == 409
    assert STATUS[ErrorCode.TOO_LARGE] == 413
    assert STATUS[ErrorCode.SELF_VOUCH] == 422
    assert STATUS[ErrorCode.RATE_LIMITED] == 429
    assert STATUS[ErrorCode.UNAVAILABLE] == 503
    assert STATUS[ErrorCode.INTERNAL] == 500


@pytest.mark.spec("10-a")
def test_the_protocol_error_table_matches_the_server_table() -> None:
    spec = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
    rows = re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", spec.read_text("utf-8"), flags=re.MULTILINE)
    if not rows:
        pytest.skip("docs/protocol.md has no §10 table yet")
    assert {ErrorCode(code): int(status) for code, status in rows} == dict(STATUS)


class _BrokenSequencer(Sequencer):
    """A sequencer whose leaf reads fail: with a Python error, or with a store that disagrees."""

    def leaves(self, start: int, end: int) -> list[bytes]:
        if start == 0:
            raise RuntimeError("secret detail /srv/registry/data postgresql://user:pw@db")
        raise StoreMismatch("the stored leaf at index 256 disagrees with its row")


@pytest.mark.spec("9.1-f")
def test_internal_failures_get_the_generic_500_body(tmp_path: Path) -> None:
    served = new_log(tmp_path, sequencer_class=_BrokenSequencer)

    async def scenario() -> list[httpx.Response]:
        async with api_client(served.app()) as client:
            return [await client.get("/tile/entries/000.p/1")]

    (response,) = run(scenario())
    served.store.close()
    assert response.status_code == 500
    assert response.content == b'{"code":"internal","message":"internal error","section":""}'


@pytest.mark.spec("9.1-f")
def test_a_store_mismatch_is_a_generic_500(tmp_path: Path) -> None:
    served = new_log(tmp_path, params=BUSY, sequencer_class=_BrokenSequencer)
    _fill(served, 256)

    async def scenario() -> httpx.Response:
        async with api_client(served.app()) as client:
            return await client.get("/tile/entries/001.p/1")

    response = run(scenario())
    served.store.close()
    assert response.status_code == 500
    assert response.json() == {"code": "internal", "message": "internal error", "section": ""}


@pytest.mark.spec("9.1-a", "9.1-b")
def test_openapi_documents_every_status_and_code_of_every_operation(served: ServedLog) -> None:
    async def scenario() -> httpx.Response:
        async with api_client(served.app()) as client:
            return await client.get("/openapi.json")

    schema = run(scenario()).json()
    operations = {(path, method): op for path, item in schema["paths"].items() for method, op in item.items()}
    assert set(operations) >= {
        ("/v1/entries", "post"),
        ("/v1/validate", "post"),
        ("/v1/members/{member_id}", "get"),
        ("/v1/policy", "get"),
        ("/v1/proof/inclusion", "get"),
        ("/v1/proof/consistency", "get"),
        ("/healthz", "get"),
        ("/checkpoint", "get"),
        ("/tile/{tile_path}", "get"),
    }
    every_code = {str(c) for c in ErrorCode}
    for key, op in operations.items():
        responses = op["responses"]
        assert "500" in responses and "503" in responses, key
        assert "422" not in responses or key == ("/v1/entries", "post"), key  # no FastAPI validation 422
        for status, response in responses.items():
            if int(status) >= 400:
                enum = response["content"]["application/json"]["schema"]["properties"]["code"]["enum"]
                assert set(enum) <= every_code and enum == codes_for(int(status)), (key, status)
    entry_statuses = set(operations[("/v1/entries", "post")]["responses"])
    assert entry_statuses == {"201", "400", "403", "404", "409", "413", "422", "429", "500", "503"}
    assert "Retry-After" in operations[("/v1/entries", "post")]["responses"]["429"]["headers"]


@pytest.mark.spec("9.1-a")
def test_unknown_paths_and_methods_get_error_bodies(served: ServedLog) -> None:
    async def scenario() -> list[httpx.Response]:
        async with api_client(served.app()) as client:
            return [await client.get("/v2/nothing"), await client.delete("/v1/entries")]

    missing, method = run(scenario())
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    assert method.status_code == 405 and method.json()["code"] == "malformed_encoding"


@pytest.mark.spec("9.1-h")
def test_registry_serve_binds_loopback_by_default_and_passes_settings_by_name() -> None:
    options = {p.name: p for p in cmd_serve.serve.params}
    assert options["host"].default == "127.0.0.1"
    assert options["batch_ms"].default == 250
    names = (cmd_serve.DATA_ENV, cmd_serve.BATCH_MS_ENV, cmd_serve.FULL_CHECK_ENV, cmd_serve.SNAPSHOT_EVERY_ENV)
    assert names == (DATA_ENV, BATCH_MS_ENV, FULL_CHECK_ENV, SNAPSHOT_EVERY_ENV)
    assert options["snapshot_every"].default == Sequencer.SNAPSHOT_EVERY
    uv = cmd_serve.uvicorn_options("127.0.0.1", 1)
    assert (uv["access_log"], uv["proxy_headers"], uv["server_header"], uv["workers"]) == (False, False, False, 1)


def test_api_public_names_are_pinned() -> None:
    assert api.__all__ == ["STATUS", "LogSource", "OpenedLog", "Settings", "app_from_env", "create_app"]
