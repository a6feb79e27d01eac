"""FastAPI's built-in OpenTelemetry stays off in every app of `api` (protocol §9.1-g, `api.telemetry`):
with a tracer provider configured in the process and `FASTAPI_OTEL_AUTO_CONFIGURE=true`, serving
requests records no span. A plain FastAPI app in the same process does record them, so the recorder
would see a span if ours made one.

Runs in a child process: an OpenTelemetry provider can be set once per process only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_CHILD = r"""
import asyncio, json, sys, tempfile
from pathlib import Path

from opentelemetry import trace
from opentelemetry.trace import NoOpTracer, TracerProvider

spans = []

class RecordingTracer(NoOpTracer):
    def start_span(self, name, *args, **kwargs):
        spans.append(name)
        return super().start_span(name, *args, **kwargs)

    def start_as_current_span(self, name, *args, **kwargs):
        spans.append(name)
        return super().start_as_current_span(name, *args, **kwargs)

class RecordingProvider(TracerProvider):  # not a no-op provider: FastAPI skips those
    def get_tracer(self, *args, **kwargs):
        return RecordingTracer()

trace.set_tracer_provider(RecordingProvider())

import httpx
from fastapi import FastAPI

from api.app import Settings
from api.mirror import create_mirror_app
from api.witness import create_witness_app
from crypto.keys import SigningKey
from registry.witness.state import WitnessState
from registry.witness.witness import Witness
from tests.integration.apisupport import api_client, new_log


async def get(app, path):
    async with api_client(app) as client:
        return (await client.get(path)).status_code


async def main(tmp):
    counts = {}

    async def count(name, app, path):
        before = len(spans)
        await get(app, path)
        counts[name] = len(spans) - before

    plain = FastAPI()
    plain.get("/x")(lambda: {"ok": True})
    await count("plain", plain, "/x")
    await count("log", new_log(tmp).app(Settings(batch_ms=5)), "/checkpoint")
    (tmp / "mirror").mkdir()
    await count("mirror", create_mirror_app(tmp / "mirror"), "/checkpoint")
    with WitnessState.open(tmp / "witness.sqlite3") as state:
        witness = Witness("witness.example/w", SigningKey.from_seed(bytes(32)), [], state, lambda: 0)
        await count("witness", create_witness_app(witness), "/add-checkpoint")
    print(json.dumps(counts))


with tempfile.TemporaryDirectory() as tmp:
    asyncio.run(main(Path(tmp)))
"""


@pytest.mark.spec("9.1-g")
def test_no_app_records_a_span_even_with_a_provider_and_auto_configuration() -> None:
    env = dict(os.environ, FASTAPI_OTEL_AUTO_CONFIGURE="true", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", _CHILD], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts["plain"] > 0  # the recorder sees FastAPI's spans when telemetry is on
    assert counts == {"plain": counts["plain"], "log": 0, "mirror": 0, "witness": 0}
