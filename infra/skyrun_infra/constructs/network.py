"""Where workers run: a VPC of public subnets (or an existing VPC) and their security group."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from skyrun_infra.constructs.data import LOG_RETENTION


class WorkerNetwork(Construct):
    """The subnets and security group of the Batch compute environments.

    A new VPC has only public subnets, and workers get public IPs: a NAT gateway would
    cost about $32 a month per AZ even while nothing runs. Workers accept no inbound
    traffic (the security group has no ingress rule), and S3 and DynamoDB, which carry
    almost all of their traffic, are reached through free gateway endpoints. With an
    existing VPC (``vpc_id``), workers use its public subnets, or its private ones with a
    route to a NAT when ``private_subnets`` is set.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc_id: str | None = None,
        private_subnets: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        if vpc_id:
            self.vpc: ec2.IVpc = ec2.Vpc.from_lookup(self, "Vpc", vpc_id=vpc_id)
        else:
            self.vpc = self._new_vpc()
        self.assign_public_ip = not private_subnets
        self.subnet_selection = ec2.SubnetSelection(
            subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS
            if private_subnets
            else ec2.SubnetType.PUBLIC
        )
        self.subnets = self.vpc.select_subnets(subnet_type=self.subnet_selection.subnet_type)
        self.security_group = ec2.SecurityGroup(
            self,
            "Workers",
            vpc=self.vpc,
            description="skyrun workers: no inbound traffic, outbound to AWS APIs and PyPI",
            allow_all_outbound=True,
        )

    def _new_vpc(self) -> ec2.Vpc:
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr("10.64.0.0/16"),
            max_azs=3,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="workers", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=20
                )
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
                "DynamoDB": ec2.GatewayVpcEndpointOptions(
                    service=ec2.GatewayVpcEndpointAwsService.DYNAMODB
                ),
            },
        )
        # Rejected connections only: enough to see probes and misrouted traffic without
        # paying to log every result upload.
        flow_logs = logs.LogGroup(
            self,
            "FlowLogs",
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        vpc.add_flow_log(
            "RejectedTraffic",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )
        return vpc

    @property
    def subnet_ids(self) -> list[str]:
        """The ids of the subnets workers are placed in."""
        return self.subnets.subnet_ids
