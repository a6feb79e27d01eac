"""The short flood (scripts/flood.py, issue 7 item 10): ~2,000 unsponsored, rate-limited, invalid or
oversized submissions against a real `registry serve` on loopback, while real members read.

Asserted: nothing is appended, every submission gets its status and code (400, 403, 404, 413, 422,
429), every read succeeds (at the flooded server and at the script's control server on the same log),
and the server's RSS grows by less than 100 MB. No timing is asserted: the figures (rate, read p99
against the unloaded p99 and against the control's) come from the script (protocol §7.8, §9.1-c, §9.1-e).
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import time
from collections import Counter
from pathlib import Path
from types import ModuleType

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
TOTAL = 2_000


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("flood_script", ROOT / "scripts" / "flood.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("flood_script", module)
    spec.loader.exec_module(module)
    return module


flood = _load()


@pytest.mark.spec("7.8-a", "9.1-a", "9.1-c", "7.1-a", "7.1-b", "7.3-h")
def test_a_flood_of_refused_submissions_appends_nothing_and_gets_the_right_codes(tmp_path: Path) -> None:
    log = flood.make_log(tmp_path, time.time_ns() // 1_000_000)
    work = list(flood.schedule(flood.make_payloads(log, 50), TOTAL))
    server = flood.start_server(log.data, tmp_path)
    (tmp_path / "control").mkdir()
    control = flood.start_server(log.data, tmp_path / "control")  # the script's control: no flood reaches it
    try:
        size_before = flood.tree_size(server.url)
        rss_before = server.rss_kb()["VmRSS"]
        result, reads, control_reads = asyncio.run(flood.flood_while_reading(
            server.url, log.members, work, workers=1, concurrency=256, seconds=0, read_rate=50,
            control=control.url))  # fmt: skip
        rss_after = server.rss_kb()["VmRSS"]
        assert flood.tree_size(server.url) == size_before  # nothing appended, not even a state leaf
        assert flood.tree_size(control.url) == size_before
    finally:
        output = server.stop()
        control.stop()
    assert result.sent == TOTAL
    assert not result.wrong, result.wrong
    kinds = Counter(kind for kind, _, _ in result.answers.elements())
    assert set(kinds) == set(flood.EXPECTED)  # every kind was sent, each answered as expected
    statuses = {status for _, status, _ in result.answers}
    assert statuses == {400, 403, 404, 413, 422, 429}
    assert reads.latencies_ms and set(reads.statuses) == {200}
    assert control_reads is not None and control_reads.latencies_ms and set(control_reads.statuses) == {200}
    assert (rss_after - rss_before) / 1024 < 100
    assert "Traceback" not in output and "internal error" not in output


@pytest.mark.spec("7.8-a", "9.1-e", "9.1-c")
def test_a_rate_limited_submission_carries_retry_after_and_an_oversized_one_is_refused_unread(tmp_path: Path) -> None:
    log = flood.make_log(tmp_path, time.time_ns() // 1_000_000)
    kinds = flood.make_payloads(log, 1)
    server = flood.start_server(log.data, tmp_path, batch_ms=20)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            limited = client.post("/v1/entries", content=kinds["rate_limited"][0])
            assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
            assert int(limited.headers["retry-after"]) > 0
            # A declared length over the limit is refused from the header alone.
            big = client.post("/v1/entries", content=kinds["oversized"][0])
            assert big.status_code == 413 and big.json()["code"] == "too_large"
    finally:
        server.stop()
