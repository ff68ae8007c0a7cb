"""``Function.usage()`` (an addition to the Compute API) on both backends, and the cost
arithmetic of ``skyrun.compute.pricing`` against hand computations."""

from __future__ import annotations

import os

import pytest

from skyrun.compute import Function


def spin(n):
    total = 0
    for i in range(n):
        total += i * i
    if n == 3:
        raise ValueError("three is not allowed")
    return total


def test_usage_sums_the_finished_jobs(namespace):
    fn = Function(spin, cpus=0.5, memory=1024, maximum_concurrency=2, retry_count=0)
    fn.save()
    empty = fn.usage()
    assert (empty.jobs, empty.runtime_seconds, empty.peak_memory_bytes) == (0, 0.0, None)
    fn.map([200_000, 3, 10, 50_000])
    fn.wait_for_completion(timeout=240, interval=0.2)
    jobs = list(fn.jobs)
    usage = fn.usage()
    runtime = sum((j.last_completion_date - j.last_execution_date).total_seconds() for j in jobs)
    measured = [j.statistics for j in jobs if j.statistics is not None]
    assert usage.jobs == 4 and usage.backend == namespace.backend_name
    assert usage.runtime_seconds == pytest.approx(runtime, abs=1e-4)
    assert usage.cpu_seconds == pytest.approx(sum(s.cpu.time for s in measured) / 1e9)
    assert usage.peak_memory_bytes == max(s.memory.peak_bytes for s in measured) > 0
    if namespace.backend_name == "local":
        assert (usage.vcpu_seconds, usage.gb_seconds, usage.cost) == (None, None, None)
        return
    # AWS: the Function's size times the runtime, priced as Fargate by hand: two worker
    # tasks (maximum_concurrency 2), each billed at least a minute, so 120 s.
    assert usage.vcpu_seconds == pytest.approx(0.5 * usage.runtime_seconds)
    assert usage.gb_seconds == pytest.approx(1.0 * usage.runtime_seconds)
    cost = usage.cost
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
    assert (cost.compute_target, cost.region) == ("fargate", region)
    billed = max(usage.runtime_seconds, 120.0)
    assert cost.billed_vcpu_seconds == pytest.approx(0.5 * billed)
    assert cost.usd == pytest.approx(billed * (0.5 * 0.04048 + 1.0 * 0.004445) / 3600)
    assert usage.to_dict()["cost"]["usd"] == cost.usd


def test_aws_usage_is_priced_where_the_rule_sends_the_jobs():
    from skyrun.compute import usage

    totals = {"finished": 10, "runtime_seconds": 100.0, "cpu_seconds": 50.0,
              "peak_bytes": 1 << 20}
    # timeout=600 under "auto" fits Lambda; the API's default 3,600 s goes to Batch.
    short = {"compute_target": "auto", "timeout": 600, "cpus": 2, "memory": 2048}
    assert usage.compute_target_of_record(short) == "lambda"
    assert usage.compute_target_of_record(dict(short, timeout=3600)) == "fargate"
    assert usage.compute_target_of_record(dict(short, compute_target="batch")) == "fargate"
    # On Lambda, 2 vCPUs need a 3,538 MB function: that memory is what is billed.
    u = usage.from_totals("aws", totals, 2, 2048, 2, "lambda", "us-east-1")
    assert u.cost.billed_gb_seconds == pytest.approx(3538 / 1024 * 100)
    assert u.cost.usd == pytest.approx(3538 / 1024 * 100 * 0.0000166667 + 10 * 0.0000002)
