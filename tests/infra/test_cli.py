"""The real CDK CLI synthesizes the app offline, as `npx cdk synth` does on a fresh clone."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from skyrun.backends.aws import resources

ROOT = Path(__file__).resolve().parents[2]
CDK = ROOT / "node_modules" / ".bin" / "cdk"


def test_cdk_synth_cli(tmp_path):
    assert CDK.exists(), (
        f"{CDK} is missing: run `npm ci` in {ROOT} first (the CI script does) to install "
        "the pinned aws-cdk CLI from package-lock.json"
    )
    env = {
        **os.environ,
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
    }
    # No credentials and no region: synthesis must not need them.
    for name in (
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "CDK_DEFAULT_ACCOUNT",
        "CDK_DEFAULT_REGION",
    ):
        env.pop(name, None)
    result = subprocess.run(
        [
            str(CDK),
            "synth",
            "--quiet",
            "--no-notices",
            "--no-version-reporting",
            "--output",
            str(tmp_path),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    stacks = {
        name for name, a in manifest["artifacts"].items() if a["type"] == "aws:cloudformation:stack"
    }
    assert stacks == set(resources.stack_names("skyrun"))
    for name in stacks:
        template = json.loads((tmp_path / f"{name}.template.json").read_text())
        assert template["Resources"]
    # The CLI ran the app's cdk-nag checks too.
    assert len(list(tmp_path.glob("AwsSolutions-*-NagReport.csv"))) == 4
    # Offline synthesis wrote no context lookups.
    assert (
        not (ROOT / "cdk.context.json").exists()
        or json.loads((ROOT / "cdk.context.json").read_text()) == {}
    )
