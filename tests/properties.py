"""Shared settings of the property-based tests (hypothesis).

Examples are bounded so that the suite stays fast, and have no deadline (a store round
trip on a loaded machine takes what it takes). ``SKYRUN_PROPERTY_EXAMPLES=N`` runs N
examples per property instead, for a deeper hunt. Under CI (``CI`` set) the examples are
derived from each test's name, so that a run is reproducible; elsewhere they are random,
and hypothesis replays the failures it saved in ``.hypothesis/`` first.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings


def property_settings(max_examples: int) -> settings:
    """Settings for one property: ``max_examples`` unless the environment says more."""
    return settings(
        max_examples=int(os.environ.get("SKYRUN_PROPERTY_EXAMPLES", max_examples)),
        deadline=None,
        derandomize=bool(os.environ.get("CI")),
        # Fixtures here are stores and Functions shared on purpose; big inputs are too.
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                               HealthCheck.data_too_large],
    )
