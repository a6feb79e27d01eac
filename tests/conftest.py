"""Shared test configuration: Hypothesis profiles, the PostgreSQL URL, and the `spec` marker."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# `ci` is derandomized so that a red CI run can be reproduced; `dev` explores new examples each run.
settings.register_profile(
    "ci", derandomize=True, deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

POSTGRES_URL_VAR = "REGISTRY_TEST_POSTGRES_URL"


def postgres_url() -> str:
    """The PostgreSQL URL for tests, or skip the test with a message saying how to enable it."""
    url = os.environ.get(POSTGRES_URL_VAR)
    if not url:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_URL_VAR} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    return url
