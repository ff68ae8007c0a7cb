"""The AWS backend: DynamoDB, S3, CloudWatch Logs, CodeBuild, ECR and AWS Batch.

The names of the deployed resources come from the CloudFormation outputs of the
stacks in ``infra/``; :mod:`skyrun.backends.aws.resources` declares them once for
both sides.
"""
