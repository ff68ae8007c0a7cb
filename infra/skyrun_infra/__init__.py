"""The CDK constructs and stacks of a skyrun deployment on AWS.

``constructs/`` holds one construct per concern; ``stacks.py`` only wires them into the
four stacks named in :mod:`skyrun.backends.aws.resources`; ``deployment.py`` builds the app
from the CDK context (:mod:`skyrun_infra.settings`) and applies the cdk-nag checks.
"""
