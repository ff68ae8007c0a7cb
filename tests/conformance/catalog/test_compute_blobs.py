"""Results and logs as blobs (API 11.1, scenarios 34 and 36), on real workers."""

from __future__ import annotations

import gzip
import uuid

import pytest

from skyrun.auth import Auth
from skyrun.catalog import Blob, StorageType
from skyrun.catalog import properties as p
from skyrun.compute import ComputeClient, Function, Job, JobStatus

PNG = b"\x89PNG\r\n\x1a\n-not-really"


def work(x):
    """0: no result; 1: a number; 2: reads a blob from inside the job; 3: a PNG result;
    4: a null value with a tag."""
    from skyrun.catalog import Blob
    from skyrun.compute import ComputeResult

    if x == 0:
        return None
    if x == 2:
        return Blob.get_data(name="input").decode()
    if x == 3:
        return ComputeResult(b"\x89PNG\r\n\x1a\n-not-really", description="d",
                             extra_properties={"k": 1}, tags=["a"])
    if x == 4:
        return ComputeResult(None, tags=["t"])
    return x * 10


@pytest.fixture
def acme():
    """A client of org ``acme`` with a fresh user, as the default client."""
    client = ComputeClient(auth=Auth(org="acme", user=f"N{uuid.uuid4().hex[:8]}"))
    ComputeClient.set_default_client(client)
    return client


def test_results_and_logs_are_blobs(acme):
    ns = acme.namespace
    assert ns.startswith("acme:N")
    Blob(name="input").upload_data("from a blob")
    fn = Function(work, name="work", client=acme)
    fn.save()
    jobs = list(fn.map([[0], [1], [2], [3], [4]]))
    fn.wait_for_completion(timeout=240, interval=0.2)
    for job in jobs:
        job.refresh()
    assert [j.status for j in jobs] == [JobStatus.SUCCESS] * 5, [j.error_reason for j in jobs]
    assert fn.namespace == ns
    fid = fn.id

    results = (Blob.search().filter(p.namespace == ns).filter(p.name.startswith(f"{fid}/"))
               .filter(p.storage_type == StorageType.COMPUTE))
    assert sorted(b.name for b in results) == sorted(f"{fid}/{j.id}" for j in jobs[1:])
    assert results.count() == 4
    logs = (Blob.search().filter(p.namespace == ns).filter(p.name.startswith(f"{fid}/"))
            .filter(p.storage_type == StorageType.LOGS))
    assert sorted(b.id for b in logs) == sorted(f"logs/{ns}/{fid}/{j.id}" for j in jobs)

    build_log = Blob.get_data(f"logs/{ns}/{fid}")
    assert gzip.decompress(build_log).decode() == fn.build_log()

    assert [j.result() for j in jobs] == [None, 10, "from a blob", PNG, None]
    assert jobs[0].result_blob() is None
    blob = jobs[3].result_blob()
    assert blob.name == f"{fid}/{jobs[3].id}"
    assert blob.storage_type == "compute" and blob.storage_type is StorageType.COMPUTE
    assert blob.namespace == fn.namespace == ns
    assert blob.description == "d" and blob.tags == ["a"] and blob.extra_properties == {"k": 1}
    assert blob.data() == PNG and blob.state == "saved"
    assert blob.owners == [f"user:{ns}", "org:acme"]
    assert Blob.search().filter(p.namespace == ns).filter(p.extra_properties.k == 1).count() == 1
    # A caller of another org reads the result blob under the Function's namespace.
    zeta = ComputeClient(auth=Auth(org="zeta", user="Z"))
    foreign = Job.get(jobs[3].id, client=zeta).result_blob()
    assert foreign is not None and foreign.id == f"compute/{ns}/{fid}/{jobs[3].id}"
    tagged = jobs[4].result_blob(catalog_client=acme)
    assert tagged.data() == b"null" and tagged.tags == ["t"]
    assert [b.name for b in results.filter(p.tags == "t")] == [f"{fid}/{jobs[4].id}"]
    # Results stored without tags have an empty list, as blobs made by the SDK do.
    assert results.filter(p.tags != "t").count() == 3
    assert logs.filter(p.tags.isnull).count() == 0 and logs.filter(p.tags != "x").count() == 5
