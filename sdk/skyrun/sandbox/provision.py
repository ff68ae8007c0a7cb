"""Create a deployment's resources on moto from its CloudFormation templates.

moto's CloudFormation cannot create these stacks (CDK custom resources, Lambda code from
asset buckets), so each resource is created from the template's own properties with the
service's API: tables with their key schemas and indexes, the bucket, log groups, the
image repository, the build project, the network, Batch compute environments and queues,
IAM roles and policies. Lambda functions and EventBridge rules are not created in moto:
they are recorded (handler, environment, schedule, event pattern) for the sandbox, which
runs the handlers itself. Everything else (routes, endpoints, flow logs, custom
resources) has no effect offline and is skipped, with a name so references resolve.

Each stack is then created in moto's CloudFormation with the resolved outputs as literal
values, so the SDK reads them by stack name exactly as it does on AWS.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from skyrun.sandbox.templates import Resolver, Unresolvable, creation_order


@dataclass
class LambdaFunction:
    """A Lambda function of the templates, run by the sandbox instead of moto."""

    logical_id: str
    name: str
    arn: str
    handler: str
    environment: dict[str, str]


@dataclass
class Rule:
    """An EventBridge rule of the templates: a schedule or an event pattern."""

    name: str
    targets: list[str]  # Lambda function ARNs
    schedule: str | None = None
    pattern: dict | None = None


@dataclass
class Deployed:
    """What provisioning made: outputs by key, Lambda functions and rules."""

    outputs: dict[str, str] = field(default_factory=dict)
    functions: dict[str, LambdaFunction] = field(default_factory=dict)  # by ARN
    rules: list[Rule] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class _Synthetic(dict):
    """Attributes of a skipped resource: any attribute resolves to a stable fake value."""

    def __init__(self, name: str):
        super().__init__()
        self.name = name

    def __missing__(self, key: str) -> str:
        return f"{self.name}-{key.lower()}"


def _name(stack: str, logical: str, limit: int = 64, lower: bool = False) -> str:
    # CloudFormation's own scheme: stack name, logical id and a suffix, within the limit.
    base = re.sub(r"[^A-Za-z0-9-]", "-", f"{stack}-{logical}")
    base = base[: limit]
    return base.lower() if lower else base


class Provisioner:
    """Creates the resources of templates through boto3 clients of one moto server."""

    def __init__(self, client: Callable[[str], Any], account: str, region: str):
        self.client = client
        self.account = account
        self.region = region
        self.deployed = Deployed()
        self._stack_outputs: dict[str, dict[str, str]] = {}
        self._creators: dict[str, Callable] = {
            "AWS::S3::Bucket": self._bucket,
            "AWS::DynamoDB::Table": self._table,
            "AWS::Logs::LogGroup": self._log_group,
            "AWS::ECR::Repository": self._repository,
            "AWS::IAM::Role": self._role,
            "AWS::IAM::Policy": self._policy,
            "AWS::IAM::ManagedPolicy": self._managed_policy,
            "AWS::CodeBuild::Project": self._project,
            "AWS::EC2::VPC": self._vpc,
            "AWS::EC2::Subnet": self._subnet,
            "AWS::EC2::SecurityGroup": self._security_group,
            "AWS::Batch::ComputeEnvironment": self._compute_environment,
            "AWS::Batch::JobQueue": self._job_queue,
            "AWS::Lambda::Function": self._function,
            "AWS::Events::Rule": self._rule,
        }

    # -- stacks -------------------------------------------------------------------------
    def deploy(self, templates: dict[str, dict]) -> Deployed:
        """Create every stack's resources, in order, then the stacks with their outputs."""
        for stack, template in templates.items():
            self._deploy_stack(stack, template)
        return self.deployed

    def _deploy_stack(self, stack: str, template: dict) -> None:
        parameters = {k: v.get("Default") for k, v in template.get("Parameters", {}).items()}
        resolve = Resolver(stack, self.account, self.region, self._stack_outputs, parameters)
        specs = template.get("Resources", {})
        for logical in creation_order(template):
            spec = specs[logical]
            creator = self._creators.get(spec["Type"])
            if creator is None:
                resolve.refs[logical] = _name(stack, logical)
                resolve.attributes[logical] = _Synthetic(_name(stack, logical))
                self.deployed.skipped.append(f"{stack}/{logical} ({spec['Type']})")
                continue
            props = resolve(spec.get("Properties", {}))
            ref, attributes = creator(stack, logical, props)
            resolve.refs[logical] = ref
            # Attributes the sandbox has no value for (such as a VPC's default security
            # group) only ever reach policies and skipped resources.
            resolve.attributes[logical] = _Synthetic(_name(stack, logical))
            resolve.attributes[logical].update(attributes)
        outputs = {}
        for key, output in template.get("Outputs", {}).items():
            try:
                outputs[key] = str(resolve(output["Value"]))
            except Unresolvable:
                continue
        self._stack_outputs[stack] = outputs
        from skyrun.backends.aws import resources as r

        self.deployed.outputs.update({k: v for k, v in outputs.items() if k in r.OUTPUTS})
        body = {
            "Description": f"{template.get('Description', stack)} (skyrun sandbox: outputs only)",
            "Resources": {"Sandbox": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
            "Outputs": {k: {"Value": v} for k, v in outputs.items()},
        }
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # moto warns that the handle is a no-op
            self.client("cloudformation").create_stack(StackName=stack,
                                                       TemplateBody=json.dumps(body))

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"

    # -- data ---------------------------------------------------------------------------
    def _bucket(self, stack, logical, props):
        name = props.get("BucketName") or _name(stack, logical, 63, lower=True)
        s3 = self.client("s3")
        s3.create_bucket(Bucket=name)
        rules = (props.get("LifecycleConfiguration") or {}).get("Rules") or []
        if rules:
            s3.put_bucket_lifecycle_configuration(
                Bucket=name, LifecycleConfiguration={"Rules": [_lifecycle(x) for x in rules]})
        return name, {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com"}

    def _table(self, stack, logical, props):
        name = props.get("TableName") or _name(stack, logical, 255)
        kwargs = {"TableName": name, "KeySchema": props["KeySchema"],
                  "AttributeDefinitions": props["AttributeDefinitions"],
                  "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST")}
        if props.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = [
                {k: v for k, v in gsi.items() if k in ("IndexName", "KeySchema", "Projection")}
                for gsi in props["GlobalSecondaryIndexes"]]
        dynamodb = self.client("dynamodb")
        arn = dynamodb.create_table(**kwargs)["TableDescription"]["TableArn"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={
                "AttributeName": ttl["AttributeName"], "Enabled": True})
        return name, {"Arn": arn}

    def _log_group(self, stack, logical, props):
        name = props.get("LogGroupName") or _name(stack, logical, 512)
        logs = self.client("logs")
        logs.create_log_group(logGroupName=name)
        if props.get("RetentionInDays"):
            logs.put_retention_policy(logGroupName=name,
                                      retentionInDays=int(props["RetentionInDays"]))
        return name, {"Arn": self._arn("logs", f"log-group:{name}:*")}

    def _repository(self, stack, logical, props):
        name = props.get("RepositoryName") or _name(stack, logical, 256, lower=True)
        repo = self.client("ecr").create_repository(repositoryName=name)["repository"]
        return name, {"Arn": repo["repositoryArn"], "RepositoryUri": repo["repositoryUri"]}

    # -- IAM ----------------------------------------------------------------------------
    def _role(self, stack, logical, props):
        name = props.get("RoleName") or _name(stack, logical, 64)
        iam = self.client("iam")
        role = iam.create_role(RoleName=name, Path=props.get("Path", "/"),
                               AssumeRolePolicyDocument=json.dumps(
                                   props["AssumeRolePolicyDocument"]))["Role"]
        for policy in props.get("Policies") or []:
            iam.put_role_policy(RoleName=name, PolicyName=policy["PolicyName"],
                                PolicyDocument=json.dumps(policy["PolicyDocument"]))
        for arn in props.get("ManagedPolicyArns") or []:
            if arn.startswith(f"arn:aws:iam::{self.account}:"):  # AWS managed ones: not in moto
                iam.attach_role_policy(RoleName=name, PolicyArn=arn)
        return name, {"Arn": role["Arn"], "RoleId": role["RoleId"]}

    def _policy(self, stack, logical, props):
        iam = self.client("iam")
        for role in props.get("Roles") or []:
            iam.put_role_policy(RoleName=role, PolicyName=props["PolicyName"],
                                PolicyDocument=json.dumps(props["PolicyDocument"]))
        return props["PolicyName"], {}

    def _managed_policy(self, stack, logical, props):
        name = props.get("ManagedPolicyName") or _name(stack, logical, 128)
        iam = self.client("iam")
        arn = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(
            props["PolicyDocument"]))["Policy"]["Arn"]
        for role in props.get("Roles") or []:
            iam.attach_role_policy(RoleName=role, PolicyArn=arn)
        return arn, {"PolicyArn": arn}

    # -- images -------------------------------------------------------------------------
    def _project(self, stack, logical, props):
        name = props.get("Name") or _name(stack, logical, 255)
        env = props["Environment"]
        source = props["Source"]
        logs = (props.get("LogsConfig") or {}).get("CloudWatchLogs") or {}
        self.client("codebuild").create_project(
            name=name, description=props.get("Description", ""),
            # The source is an asset in the CDK bootstrap bucket, which the sandbox lacks;
            # its builds run locally, so it is recorded and never read.
            source={"type": source.get("Type", "S3"), "buildspec": source.get("BuildSpec", ""),
                    "location": str(source.get("Location") or "sandbox/none")},
            artifacts={"type": "NO_ARTIFACTS"},
            environment={"type": env["Type"], "image": env["Image"],
                         "computeType": env["ComputeType"],
                         "privilegedMode": bool(env.get("PrivilegedMode")),
                         "environmentVariables": [
                             {"name": v["Name"], "value": str(v["Value"]),
                              "type": v.get("Type", "PLAINTEXT")}
                             for v in env.get("EnvironmentVariables") or []]},
            serviceRole=props["ServiceRole"],
            logsConfig={"cloudWatchLogs": {"status": logs.get("Status", "ENABLED"),
                                           **({"groupName": logs["GroupName"]}
                                              if logs.get("GroupName") else {})}},
        )
        return name, {"Arn": self._arn("codebuild", f"project/{name}")}

    # -- network and Batch ----------------------------------------------------------------
    def _vpc(self, stack, logical, props):
        vpc = self.client("ec2").create_vpc(CidrBlock=props["CidrBlock"])["Vpc"]
        return vpc["VpcId"], {"CidrBlock": props["CidrBlock"], "VpcId": vpc["VpcId"]}

    def _subnet(self, stack, logical, props):
        subnet = self.client("ec2").create_subnet(
            VpcId=props["VpcId"], CidrBlock=props["CidrBlock"],
            AvailabilityZone=props.get("AvailabilityZone") or f"{self.region}a")["Subnet"]
        return subnet["SubnetId"], {"SubnetId": subnet["SubnetId"]}

    def _security_group(self, stack, logical, props):
        group = self.client("ec2").create_security_group(
            GroupName=props.get("GroupName") or _name(stack, logical, 255),
            Description=props.get("GroupDescription", logical), VpcId=props["VpcId"])
        return group["GroupId"], {"GroupId": group["GroupId"]}

    def _compute_environment(self, stack, logical, props):
        name = props.get("ComputeEnvironmentName") or _name(stack, logical, 128)
        res = props.get("ComputeResources") or {}
        kwargs = {"computeEnvironmentName": name, "type": props["Type"].upper(),
                  "state": props.get("State", "ENABLED"),
                  "computeResources": {"type": res["Type"], "maxvCpus": int(res["MaxvCpus"]),
                                       "subnets": res.get("Subnets", []),
                                       "securityGroupIds": res.get("SecurityGroupIds", [])}}
        # Without a service role AWS uses Batch's service-linked role; moto insists on one.
        kwargs["serviceRole"] = props.get("ServiceRole") or self._batch_service_role()
        arn = self.client("batch").create_compute_environment(**kwargs)["computeEnvironmentArn"]
        return arn, {"ComputeEnvironmentArn": arn}

    def _batch_service_role(self) -> str:
        iam = self.client("iam")
        name = "AWSServiceRoleForBatch"
        try:
            return iam.get_role(RoleName=name)["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            trust = {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "batch.amazonaws.com"},
                "Action": "sts:AssumeRole"}]}
            return iam.create_role(RoleName=name, Path="/aws-service-role/batch.amazonaws.com/",
                                   AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]

    def _job_queue(self, stack, logical, props):
        name = props.get("JobQueueName") or _name(stack, logical, 128)
        arn = self.client("batch").create_job_queue(
            jobQueueName=name, state=props.get("State", "ENABLED"),
            priority=int(props.get("Priority", 1)),
            computeEnvironmentOrder=[
                {"order": int(o["Order"]), "computeEnvironment": o["ComputeEnvironment"]}
                for o in props["ComputeEnvironmentOrder"]])["jobQueueArn"]
        return arn, {"JobQueueArn": arn}

    # -- events (recorded for the sandbox) --------------------------------------------------
    def _function(self, stack, logical, props):
        name = props.get("FunctionName") or _name(stack, logical, 64)
        arn = self._arn("lambda", f"function:{name}")
        variables = (props.get("Environment") or {}).get("Variables") or {}
        self.deployed.functions[arn] = LambdaFunction(
            logical, name, arn, props["Handler"], {k: str(v) for k, v in variables.items()})
        return name, {"Arn": arn}

    def _rule(self, stack, logical, props):
        name = props.get("Name") or _name(stack, logical, 64)
        self.deployed.rules.append(Rule(
            name=name, targets=[t["Arn"] for t in props.get("Targets") or []],
            schedule=props.get("ScheduleExpression"), pattern=props.get("EventPattern")))
        return name, {"Arn": self._arn("events", f"rule/{name}")}


def _lifecycle(rule: dict) -> dict:
    """An S3 lifecycle rule in CloudFormation's shape, in the API's shape."""
    out: dict[str, Any] = {"ID": rule.get("Id", "rule"), "Status": rule.get("Status", "Enabled"),
                           "Filter": {"Prefix": rule.get("Prefix", "")}}
    if "ExpirationInDays" in rule:
        out["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    abort = rule.get("AbortIncompleteMultipartUpload")
    if abort:
        out["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(abort["DaysAfterInitiation"])}
    return out
