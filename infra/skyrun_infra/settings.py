"""Deployment settings read from the CDK context (``cdk deploy -c skyrun:spot=false``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from constructs import Node

from skyrun.backends.aws import resources

PREFIX = "skyrun:prefix"
MAX_VCPUS = "skyrun:maxVcpus"
SPOT = "skyrun:spot"
VPC_ID = "skyrun:vpcId"
PRIVATE_SUBNETS = "skyrun:privateSubnets"
LAMBDA = "skyrun:lambda"

#: The largest job (16 vCPU) must fit in the compute environments.
LARGEST_JOB_VCPUS = 16

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _boolean(key: str, value: Any) -> bool:
    # Values given with -c on the command line arrive as strings, from cdk.json as JSON.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"context {key}={value!r} is not a boolean; use true or false")


def _integer(key: str, value: Any) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"context {key}={value!r} is not a whole number") from None
    return number


@dataclass(frozen=True)
class Settings:
    """What a deployment can be configured with; each field has a context key."""

    #: Deployment name: prefixes the stacks and named resources (``skyrun:prefix``).
    prefix: str = resources.DEFAULT_DEPLOYMENT
    #: Ceiling of each compute environment in vCPUs (``skyrun:maxVcpus``).
    max_vcpus: int = 256
    #: Whether workers run on Fargate Spot first (``skyrun:spot``).
    spot: bool = True
    #: An existing VPC to place workers in instead of a new one (``skyrun:vpcId``).
    vpc_id: str | None = None
    #: In an existing VPC, use its private subnets (with a NAT route) rather than its
    #: public ones (``skyrun:privateSubnets``).
    private_subnets: bool = False
    #: Whether Functions that fit Lambda run there, starting in seconds, rather than on
    #: Batch (``skyrun:lambda``).
    lambda_target: bool = True

    def __post_init__(self) -> None:
        resources.validate_deployment_name(self.prefix)
        if self.max_vcpus < LARGEST_JOB_VCPUS:
            raise ValueError(
                f"context {MAX_VCPUS}={self.max_vcpus} is too small; it must be at least "
                f"{LARGEST_JOB_VCPUS} so that a 16-vCPU job can be placed"
            )
        if self.private_subnets and not self.vpc_id:
            raise ValueError(
                f"context {PRIVATE_SUBNETS} needs {VPC_ID}: a new VPC has public subnets only"
            )

    @classmethod
    def from_context(cls, node: Node) -> Settings:
        """Read the settings from a construct node's context, defaults for what is unset."""
        defaults = cls()
        prefix = node.try_get_context(PREFIX)
        max_vcpus = node.try_get_context(MAX_VCPUS)
        spot = node.try_get_context(SPOT)
        vpc_id = node.try_get_context(VPC_ID)
        private = node.try_get_context(PRIVATE_SUBNETS)
        lambda_target = node.try_get_context(LAMBDA)
        return cls(
            prefix=defaults.prefix if prefix in (None, "") else str(prefix),
            max_vcpus=defaults.max_vcpus if max_vcpus is None else _integer(MAX_VCPUS, max_vcpus),
            spot=defaults.spot if spot is None else _boolean(SPOT, spot),
            vpc_id=str(vpc_id) if vpc_id else None,
            private_subnets=False if private is None else _boolean(PRIVATE_SUBNETS, private),
            lambda_target=(defaults.lambda_target if lambda_target is None
                           else _boolean(LAMBDA, lambda_target)),
        )
