#!/usr/bin/env python3
"""The CDK app of a skyrun deployment: ``cdk synth`` / ``cdk deploy --all`` run this.

Settings come from the CDK context (see ``skyrun_infra/settings.py``), for example
``cdk deploy --all -c skyrun:prefix=team-a -c skyrun:spot=false``.
"""

import os
import sys
from pathlib import Path

# Node 20 still runs jsii fine; its end-of-life banner would only clutter cdk's output.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

# Run from a clone without installing skyrun: the stacks import the shared resource
# names from the SDK sources.
_ROOT = Path(__file__).resolve().parent.parent
for _path in (_ROOT / "infra", _ROOT / "sdk"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import aws_cdk as cdk  # noqa: E402

from skyrun_infra.deployment import add_checks, build_deployment  # noqa: E402

app = cdk.App()
build_deployment(app)
add_checks(app)
app.synth()
