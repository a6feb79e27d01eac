"""32 concurrent clients submitting 50 statements each through the in-process API (protocol §9.2, §5.6):
every 201 names a distinct index holding exactly the submitted entry, every receipt verifies, the
statements were batched, and the auditor's full replay of the stored log passes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import Settings
from crypto.merkle import leaf_hash
from registry.audit import audit
from registry.statements import format_leaf, parse_entry
from tests.integration.apisupport import BUSY, api_client, check_receipt, new_log
from tests.integration.logdata import Community, declare_entry, log_signer

CLIENTS = 32
PER_CLIENT = 50
FOUNDERS = 16


@pytest.mark.spec("9.2-a", "9.2-b", "9.2-d")
def test_concurrent_clients_every_receipt_is_at_its_index_and_the_audit_passes(tmp_path: Path) -> None:
    served = new_log(tmp_path, params=BUSY, founders=FOUNDERS)
    founders = served.community.founders
    # 1,600 independent valid statements: each new member is sponsored by a founder, and the policy's
    # quotas, rate limits and pending caps are far above what 100 sponsorships per founder need.
    entries = [
        [declare_entry(Community.member(c * PER_CLIENT + i), founders[(c * PER_CLIENT + i) % FOUNDERS])
         for i in range(PER_CLIENT)]
        for c in range(CLIENTS)
    ]

    async def client_run(client: httpx.AsyncClient, mine: list[bytes]) -> list[tuple[bytes, httpx.Response]]:
        return [(entry, await client.post("/v1/entries", content=entry)) for entry in mine]

    async def scenario() -> list[tuple[bytes, httpx.Response]]:
        async with api_client(served.app(Settings(batch_ms=10))) as client:
            per_client = await asyncio.gather(*(client_run(client, mine) for mine in entries))
        return [pair for pairs in per_client for pair in pairs]

    results = run(scenario())
    assert [r.status_code for _, r in results] == [201] * (CLIENTS * PER_CLIENT)
    bodies: list[tuple[bytes, dict[str, Any]]] = [(entry, r.json()) for entry, r in results]
    indexes = {body["index"] for _, body in bodies}
    assert len(indexes) == CLIENTS * PER_CLIENT and 0 not in indexes  # distinct, after the genesis
    for entry, body in bodies:
        index = body["index"]
        stored = served.sequencer.leaf(index)
        assert stored == format_leaf(index, body["logged_ms"], parse_entry(entry))  # identical bytes
        assert leaf_hash(stored).hex() == body["leaf_hash"]
        check_receipt(body, entry)
    leaves = [row.leaf for row in served.store.iter_entries()]
    checkpoints = [note for _, note in served.store.iter_checkpoints()]
    served.store.close()
    assert len(leaves) == served.sequencer.size > max(indexes)
    # Concurrent statements were batched: far fewer checkpoints than statements.
    assert len(checkpoints) <= CLIENTS * PER_CLIENT // 2
    report = audit(leaves, checkpoints, log_signer().verifier)
    assert report.ok, report


def run(coro: Any) -> Any:
    return asyncio.run(coro)
