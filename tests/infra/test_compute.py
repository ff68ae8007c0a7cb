"""The compute stack: network, Fargate compute environments and queues."""

from __future__ import annotations


def _environments(synth):
    return {
        e["Properties"]["ComputeResources"]["Type"]: e
        for e in synth.of_type("compute", "AWS::Batch::ComputeEnvironment").values()
    }


def test_fargate_and_fargate_spot_environments_with_the_vcpu_ceiling(synth):
    environments = _environments(synth)
    assert set(environments) == {"FARGATE", "FARGATE_SPOT"}
    for environment in environments.values():
        props = environment["Properties"]
        assert props["Type"] == "managed"
        assert props["ComputeResources"]["MaxvCpus"] == 256
        assert props["ComputeResources"]["SecurityGroupIds"]
        assert len(props["ComputeResources"]["Subnets"]) >= 2


def test_worker_queue_tries_spot_then_on_demand(synth):
    kinds = {
        logical: e["Properties"]["ComputeResources"]["Type"]
        for logical, e in synth.of_type("compute", "AWS::Batch::ComputeEnvironment").items()
    }
    queues = synth.of_type("compute", "AWS::Batch::JobQueue").values()
    orders = sorted(
        (
            [
                (o["Order"], kinds[o["ComputeEnvironment"]["Fn::GetAtt"][0]])
                for o in q["Properties"]["ComputeEnvironmentOrder"]
            ]
            for q in queues
        ),
        key=len,
    )
    assert orders == [[(1, "FARGATE")], [(1, "FARGATE_SPOT"), (2, "FARGATE")]]


def test_the_largest_job_fits_the_default_ceiling(synth):
    # 16 vCPU / 120 GB is the largest allowed job; Fargate places any size up to it.
    assert synth.deployment.settings.max_vcpus >= 16


def test_public_subnets_and_no_nat_gateway(synth):
    template = synth.template("compute")
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    subnets = synth.of_type("compute", "AWS::EC2::Subnet").values()
    assert subnets and all(s["Properties"]["MapPublicIpOnLaunch"] for s in subnets)
    endpoints = synth.of_type("compute", "AWS::EC2::VPCEndpoint").values()
    assert {e["Properties"]["VpcEndpointType"] for e in endpoints} == {"Gateway"}
    assert len(endpoints) == 2  # S3 and DynamoDB, both free
    assert synth.raw("compute")["Outputs"]["WorkerAssignPublicIp"]["Value"] == "ENABLED"


def test_workers_accept_no_inbound_traffic(synth):
    groups = synth.by_path("compute", "AWS::EC2::SecurityGroup")
    (workers,) = [g for path, g in groups.items() if path.endswith("/Network/Workers/Resource")]
    assert "SecurityGroupIngress" not in workers["Properties"]
    synth.template("compute").resource_count_is("AWS::EC2::SecurityGroupIngress", 0)


def test_rejected_traffic_is_logged(synth):
    (flow_log,) = synth.of_type("compute", "AWS::EC2::FlowLog").values()
    assert flow_log["Properties"]["TrafficType"] == "REJECT"
