"""The worker loop under a time budget, as in a Lambda invocation: it claims a job only
if the job's timeout plus a margin fits in the time left, and otherwise leaves."""

from __future__ import annotations

from skyrun_runtime import lambda_handler


def test_time_rule():
    rule = lambda_handler.time_rule(lambda: 30.0)
    assert rule({"timeout": 60}) is False
    assert rule({"timeout": 10}) is True  # 10 s + the 15 s margin fit in 30 s
    assert lambda_handler.time_rule(lambda: 30.0, margin=25)({"timeout": 10}) is False


