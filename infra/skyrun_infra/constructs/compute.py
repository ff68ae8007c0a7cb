"""AWS Batch on Fargate: the compute environments and job queues of the workers."""

from __future__ import annotations

from aws_cdk import aws_batch as batch
from constructs import Construct

from skyrun_infra.constructs.network import WorkerNetwork


class BatchCompute(Construct):
    """Fargate (and Fargate Spot) compute environments with their job queues.

    Fargate places every task size skyrun allows (0.25 to 16 vCPU, up to 120 GB), and
    job definitions are registered per function, so one environment of each capacity
    type serves all functions; ``max_vcpus`` caps what each may run at once. With Spot,
    the worker queue tries Fargate Spot first and overflows to on-demand Fargate once
    Spot reaches its ceiling; workers tolerate interruption because an interrupted job's
    lease expires and the job is claimed again.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        network: WorkerNetwork,
        max_vcpus: int,
        spot: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        placement = {
            "vpc": network.vpc,
            "vpc_subnets": network.subnet_selection,
            "security_groups": [network.security_group],
            "maxv_cpus": max_vcpus,
        }
        self.on_demand = batch.FargateComputeEnvironment(self, "Fargate", spot=False, **placement)
        self.on_demand_queue = batch.JobQueue(
            self,
            "OnDemandQueue",
            priority=1,
            compute_environments=[
                batch.OrderedComputeEnvironment(compute_environment=self.on_demand, order=1)
            ],
        )
        self.spot: batch.FargateComputeEnvironment | None = None
        if spot:
            self.spot = batch.FargateComputeEnvironment(self, "FargateSpot", spot=True, **placement)
            self.worker_queue = batch.JobQueue(
                self,
                "SpotQueue",
                priority=1,
                compute_environments=[
                    batch.OrderedComputeEnvironment(compute_environment=self.spot, order=1),
                    batch.OrderedComputeEnvironment(compute_environment=self.on_demand, order=2),
                ],
            )
        else:
            self.worker_queue = self.on_demand_queue

    @property
    def queues(self) -> list[batch.JobQueue]:
        """Every job queue, without repetition."""
        if self.worker_queue is self.on_demand_queue:
            return [self.on_demand_queue]
        return [self.worker_queue, self.on_demand_queue]
