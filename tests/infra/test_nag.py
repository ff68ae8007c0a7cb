"""cdk-nag's AwsSolutions pack reports no unsuppressed error, and every suppression has a
reason."""

from __future__ import annotations

import csv

import pytest

from skyrun.backends.aws import resources


@pytest.mark.parametrize("part", resources.STACK_PARTS)
def test_no_unsuppressed_nag_errors_or_warnings(synth, part):
    messages = synth.artifact(part).messages
    findings = [
        f"{m.id}: {m.entry.data}"
        for m in messages
        if str(m.level).lower().endswith(("error", "warning"))
    ]
    assert findings == []


@pytest.mark.parametrize("part", resources.STACK_PARTS)
def test_the_checks_ran_and_every_suppression_has_a_reason(synth, part):
    stack = getattr(synth.deployment, part)
    report = synth.outdir / f"AwsSolutions-{stack.artifact_id}-NagReport.csv"
    if not report.exists():  # cdk-nag names reports by the stack's node path
        (report,) = synth.outdir.glob(f"AwsSolutions-*{stack.stack_name}-NagReport.csv")
    rows = list(csv.DictReader(report.open()))
    assert rows, "cdk-nag checked nothing"
    assert {row["Compliance"] for row in rows} <= {"Compliant", "Suppressed", "N/A"}
    for row in rows:
        if row["Compliance"] == "Suppressed":
            assert len(row["Exception Reason"]) > 40, row


def test_nag_would_report_an_unsuppressed_error(tmp_path):
    # The same checks on a stack with a public, unencrypted bucket do report errors,
    # so an empty result above means something.
    import aws_cdk as cdk
    from aws_cdk import aws_s3 as s3

    from skyrun_infra.deployment import add_checks

    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Bad")
    s3.Bucket(stack, "Open", block_public_access=s3.BlockPublicAccess.BLOCK_ACLS_ONLY)
    add_checks(app)
    messages = app.synth().get_stack_artifact(stack.artifact_id).messages
    assert any("AwsSolutions-S10" in str(m.entry.data) for m in messages)
