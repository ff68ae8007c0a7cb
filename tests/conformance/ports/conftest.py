"""The port suites: each test runs on the adapters of each backend of
``SKYRUN_TEST_BACKENDS`` directly (the SQLite store, and the AWS one on moto), through the
suite-wide ``skyrun_backend`` fixture; no client, namespace or sandbox is set up."""

from __future__ import annotations

import pytest


@pytest.fixture
def backend(skyrun_backend, request):
    """The test's backend adapters: ``local_backend`` or ``aws_backend`` (tests/stores.py)."""
    return request.getfixturevalue(f"{skyrun_backend}_backend")


@pytest.fixture(autouse=True)
def namespace():
    """Replaces the suite's client namespace: port tests name their own namespaces."""
    return None
