"""Schemathesis over every operation of the API's own OpenAPI document (protocol §9.1, §10).

For each operation, valid and invalid requests are generated from the document (derandomized: the
same examples on every run, 25 per operation and mode) and sent to the in-process app. Every answer
must be documented for its operation (status, content type, body schema), no answer may be a 5xx, and
every 4xx body must carry one of the codes the document lists for that status.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

from api.app import Settings
from api.errors import codes_for
from tests.integration.apisupport import BUSY, new_log
from tests.integration.logdata import Community, declare_entry

schemathesis = pytest.importorskip("schemathesis")

from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@contextlib.contextmanager
def _lifespans_stopped() -> Iterator[None]:
    """Schemathesis keeps an ASGI app's lifespan running until the process exits; stop it with the test."""
    try:
        yield
    finally:
        from schemathesis.python import asgi

        with contextlib.suppress(Exception):
            asgi.shutdown_lifespans()


def _documented_code(response: Any) -> None:
    if 400 <= response.status_code < 500:
        code = response.json()["code"]
        assert code in codes_for(response.status_code), f"{response.status_code} with undocumented code {code}"


@pytest.mark.spec("9.1-a", "9.1-b")
def test_every_operation_answers_only_documented_statuses_and_codes(tmp_path: Path) -> None:
    served = new_log(tmp_path, params=BUSY)
    founders = served.community.founders
    served.sequencer.submit_batch([declare_entry(Community.member(i), founders[i % 3]) for i in range(5)])
    app = served.app(Settings(batch_ms=0))
    with _lifespans_stopped():
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 9
        without_inputs: set[str] = set()
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @settings(
                    max_examples=EXAMPLES,
                    derandomize=True,
                    deadline=None,
                    database=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=operation.as_strategy(generation_mode=mode))
                def check(case: Any) -> None:
                    response = case.call()
                    case.validate_response(response, checks=CHECKS)
                    _documented_code(response)

                try:
                    check()
                except Unsatisfiable:
                    # No invalid request exists for an operation without parameters or body.
                    assert mode is GenerationMode.NEGATIVE, operation.label
                    without_inputs.add(operation.label)
    served.store.close()
    # Negative cases exist for every operation with a constrained parameter.
    assert without_inputs >= {"GET /v1/policy", "GET /healthz", "GET /checkpoint", "GET /tile/{tile_path}"}
    assert not without_inputs & {"POST /v1/entries", "POST /v1/validate", "GET /v1/members/{member_id}",
                                 "GET /v1/proof/inclusion", "GET /v1/proof/consistency"}
