"""The cost arithmetic of ``skyrun.compute.pricing`` against hand computations."""

from __future__ import annotations

import pytest

from skyrun.compute import pricing


def test_fargate_and_lambda_prices_by_hand():
    # 1 vCPU, 2 GB, 10 jobs of 3 s on 2 tasks: the one-minute minimum bills 2 minutes.
    c = pricing.price("fargate", "us-east-1", 1, 2048, 30.0, 10, tasks=2)
    assert (c.billed_vcpu_seconds, c.billed_gb_seconds) == (120.0, 240.0)
    assert c.usd == pytest.approx(120 * (0.04048 + 2 * 0.004445) / 3600)  # $0.0016457
    assert c.usd == pytest.approx(0.00164567, rel=1e-5)
    # 2 vCPU, 4 GB for an hour on one task: no minimum applies.
    c = pricing.price("fargate", "us-west-2", 2, 4096, 3600.0, 1, tasks=1)
    assert c.usd == pytest.approx(2 * 0.04048 + 4 * 0.004445)  # $0.09874
    # Lambda: 1 GB for 100 s over 1,000 invocations, plus the requests; cpus not billed.
    c = pricing.price("lambda", "us-east-1", 4, 1024, 100.0, 1000)
    assert c.usd == pytest.approx(100 * 0.0000166667 + 1000 * 0.0000002)  # $0.00186667
    assert (c.billed_vcpu_seconds, c.requests) == (0.0, 1000)
    # A region not in the table is priced at us-east-1's rates, and says so.
    c = pricing.price("fargate", "ap-south-1", 1, 2048, 30.0, 10, tasks=2)
    assert (c.region, c.rates_region) == ("ap-south-1", "us-east-1")
    assert "fargate/pricing" in c.rates_source and c.rates_date
    with pytest.raises(ValueError, match="compute_target 'gpu' is not priced; allowed: "
                                         "fargate, lambda"):
        pricing.price("gpu", "us-east-1", 1, 2048, 1.0, 1)
