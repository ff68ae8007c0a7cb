"""The compute half's tests (builder, launcher, Lambda handlers) run on a provisioned
sandbox with local records: a stand-in backend is their ``backend``."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.aws.compute.support")

from skyrun.sandbox import Sandbox  # noqa: E402
from tests.aws.compute.support import StandInBackend  # noqa: E402


@pytest.fixture(scope="session")
def quiet_sandbox():
    """A provisioned sandbox with no stand-in running."""
    with Sandbox(batch=False, codebuild=False, schedules=False, lambda_workers=False) as sandbox:
        yield sandbox


@pytest.fixture
def backend(quiet_sandbox, tmp_path):
    """A fresh stand-in backend on the shared sandbox."""
    return StandInBackend(quiet_sandbox, tmp_path / "home")
