"""The rule that sends a Function's jobs to Lambda or to Batch on AWS, by itself: no
backend is involved (the stored, searchable attribute is in tests/conformance/management)."""

from __future__ import annotations

from skyrun.domain import targets


def test_the_rule():
    choose = targets.choose
    # The API's default timeout (3,600 s) is past Lambda's 900 s: an untouched Function
    # goes to Batch; 900 s or less goes to Lambda.
    assert choose({"timeout": 3600, "cpus": 1.0, "memory": 2048}) == "batch"
    assert choose({"timeout": 900, "cpus": 1.0, "memory": 2048}) == "lambda"
    assert choose({"timeout": 1200, "cpus": 1.0, "memory": 2048,
                   "compute_target": "auto"}) == "batch"
    assert choose({"timeout": 60, "cpus": 1.0, "memory": 2048,
                   "compute_target": "batch"}) == "batch"
    # Memory, and the memory the cpus need (one vCPU per 1,769 MB, 10,240 MB at most).
    assert choose({"timeout": 60, "cpus": 4.0, "memory": 10240}) == "lambda"
    assert choose({"timeout": 60, "cpus": 4.0, "memory": 12288}) == "batch"
    assert choose({"timeout": 60, "cpus": 8.0, "memory": 16384}) == "batch"
    assert targets.lambda_memory(4.0, 8192) == 8192
    assert targets.lambda_memory(4.0, 4096) == 4 * 1769
    assert targets.lambda_memory(0.25, 512) == 512
    problems = targets.lambda_misfits(1200, 8.0, 16384)
    assert set(problems) == {"timeout", "memory", "cpus"}
    assert "14152 MB" in problems["cpus"] and "10240 MB" in problems["cpus"]
