"""Blobs: creating, reading, ranges, expiry and deleting (API 12.1-12.2, scenario 40)."""

from __future__ import annotations

import io
import os
from datetime import datetime, timedelta, timezone

import pytest

from skyrun.auth import Auth
from skyrun.catalog import Blob, DocumentState, StorageState, StorageType
from skyrun.compute import ComputeClient
from skyrun.exceptions import ConflictError, NotFoundError, ValidationError
from tests.support import stored_blob_ids, stored_data_exists


def stored_ids(client) -> list[str]:
    """The ids of the test namespace's blobs, read straight from the store (expired ones
    included)."""
    return stored_blob_ids(client)


def data_exists(href: str) -> bool:
    return stored_data_exists(ComputeClient.get_default_client(), href)


# -- enums and identity -----------------------------------------------------------------
def test_enums():
    assert [t.value for t in StorageType] == ["compute", "data", "logs", "dyncomp"]
    assert StorageType("logs") is StorageType.LOGS and StorageType.COMPUTE == "compute"
    with pytest.raises(ValueError):
        StorageType("nodata")
    assert StorageState("remote") is StorageState.REMOTE and StorageState.AVAILABLE == "available"


def test_namespace_id_rules(namespace):
    org, user = "test", namespace.auth.namespace
    assert Blob.namespace_id() == f"{org}:{user}"
    assert Blob.namespace_id(None) == f"{org}:{user}"
    assert Blob.namespace_id("test") == "test"
    assert Blob.namespace_id("test:someone") == "test:someone"
    assert Blob.namespace_id("other") == "test:other"
    assert Blob.namespace_id("testing:x") == "test:testing:x"
    acme = ComputeClient(auth=Auth(org="acme", user="N"))
    assert Blob.namespace_id(client=acme) == "acme:N"
    assert Blob.namespace_id("proj", client=acme) == "acme:proj"


def test_new_blob_defaults(namespace):
    blob = Blob(name="a/b")
    ns = namespace.namespace
    assert blob.state == DocumentState.UNSAVED == "unsaved"
    assert blob.id == f"data/{ns}/a/b"
    assert blob.namespace == ns and blob.storage_type == StorageType.DATA
    assert blob.owners == [f"user:{ns}", "org:test"]
    assert blob.tags == [] and blob.readers == [] and blob.writers == []
    assert Blob(name="x", namespace="proj").namespace == "test:proj"
    assert Blob(id=f"logs/{ns}/f/j").to_dict()["storage_type"] == "logs"
    with pytest.raises(ValueError, match="readonly attribute 'size_bytes'"):
        Blob(name="x", size_bytes=3)
    with pytest.raises(KeyError):
        Blob(name="x", colour="red")


def test_explicit_id_is_kept_as_given(namespace):
    """An id names its namespace whole, whatever the caller's org (issue 14, item 5)."""
    user = namespace.auth.namespace
    other = f"someorg:{user}"
    blob = Blob(name="b", id=f"data/{other}/b", storage_type="data")
    assert blob.id == f"data/{other}/b" and blob.namespace == other and blob.name == "b"
    assert blob.owners == [f"user:{other}", "org:someorg"]
    blob.upload_data(b"x")
    assert blob.id == f"data/{other}/b" and blob.namespace == other
    assert Blob.get(id=f"data/{other}/b").namespace == other
    assert Blob.get_data(id=f"data/{other}/b") == b"x"
    assert Blob.exists(id=f"data/{other}/b")
    # save() of a record without data keeps it too, for any storage type.
    Blob(id=f"logs/{other}/f/j", href="s3://elsewhere").save()
    assert Blob.get(id=f"logs/{other}/f/j").namespace == other
    # A namespace in the id that happens to start with the caller's org is kept as well.
    assert Blob(id=f"data/test:{user}:x/c").namespace == f"test:{user}:x"
    # A namespace given with the id agrees with it as given or as qualified.
    assert Blob(id=f"data/{other}/c", namespace=other).namespace == other
    assert Blob(id=f"data/test:p{user}/c", namespace=f"p{user}").namespace == f"test:p{user}"
    with pytest.raises(ValueError, match="conflicts with namespace='elsewhere'"):
        Blob(id=f"data/{other}/c", namespace="elsewhere")
    with pytest.raises(ValueError, match="conflicts with name='d'"):
        Blob(id=f"data/{other}/c", name="d")
    # Only a namespace given on its own gets the caller's org, as Blob.namespace_id says.
    assert Blob(name="c", namespace=f"p{user}").id == f"data/test:p{user}/c"
    assert Blob.delete_many([f"data/{other}/b", f"logs/{other}/f/j"]) == [
        f"data/{other}/b", f"logs/{other}/f/j"]


# -- creating ---------------------------------------------------------------------------
def test_upload_data_then_save_is_noop_and_second_upload_conflicts(namespace):
    blob = Blob(name="greeting", description="d", tags=["t"]).upload_data("hello")
    assert blob.state == "saved"
    assert blob.storage_state == StorageState.AVAILABLE and blob.storage_type == "data"
    assert blob.size_bytes == 5 and blob.hash == "5d41402abc4b2a76b9719d911017c592"
    assert isinstance(blob.created, datetime) and blob.created.tzinfo is not None
    assert data_exists(blob.href)
    modified = namespace.backend.blobs.get_record(blob.id)["modified"]
    blob.save()  # saved and unmodified: nothing is written
    assert namespace.backend.blobs.get_record(blob.id)["modified"] == modified
    with pytest.raises(ConflictError, match=f"^Blob {blob.id} already exists$"):
        Blob(name="greeting").upload_data(b"other")
    with pytest.raises(ConflictError, match="already exists"):
        Blob(name="greeting").save()
    with pytest.raises(ConflictError, match="already exists"):
        Blob(name="greeting").upload(io.BytesIO(b"other"))
    assert Blob.get_data(name="greeting") == b"hello"


def test_upload_sources(namespace, tmp_path):
    path = tmp_path / "in.bin"
    path.write_bytes(b"\x00\x01file")
    assert Blob(name="from-path").upload(str(path)).data() == b"\x00\x01file"
    assert Blob(name="from-pathlike").upload(path).size_bytes == 6
    with open(path, "rb") as f:
        assert Blob(name="from-file").upload(f).data() == b"\x00\x01file"
    assert Blob(name="from-bytesio").upload(io.BytesIO(b"mem")).data() == b"mem"
    assert Blob(name="empty").upload_data(b"").data() == b""
    assert Blob(name="utf8").upload_data("é").data() == "é".encode()


def test_creation_errors_store_nothing(namespace, tmp_path):
    ns = namespace.namespace
    saved = Blob(name="kept").upload_data(b"x")
    with pytest.raises(ValueError, match=f"^Blob data/{ns}/kept has been saved. Please use an "
                                         "unsaved blob for uploading$"):
        saved.upload_data(b"y")
    with pytest.raises(ValueError, match="^name field required$"):
        Blob().upload_data(b"y")
    with pytest.raises(ValueError, match="^name field required$"):
        Blob().save()
    with pytest.raises(ValueError, match="bytes or str"):
        Blob(name="bad-data").upload_data(12)
    with pytest.raises(ValueError, match="Invalid file value"):
        Blob(name="bad-file").upload(12)
    with open(tmp_path / "t.txt", "w") as text_file:
        with pytest.raises(ValueError, match="Invalid file value"):
            Blob(name="text-file").upload(text_file)
    assert stored_ids(namespace) == [f"data/{ns}/kept"]
    assert saved.data() == b"x"


@pytest.mark.parametrize("attrs, field", [
    ({"name": "/lead"}, "name"),
    ({"name": "trail/"}, "name"),
    ({"name": "new\nline"}, "name"),
    ({"name": "com,ma"}, "name"),
    ({"name": "x" * 980}, "name"),
    ({"name": "ok", "namespace": "test:bad space"}, "namespace"),
    ({"name": "ok", "storage_type": "nodata"}, "storage_type"),
    ({"name": "ok", "storage_state": "lost"}, "storage_state"),
    ({"name": "ok", "description": "d" * 80_001}, "description"),
    ({"name": "ok", "extra_properties": {str(i): i for i in range(51)}}, "extra_properties"),
    ({"name": "ok", "extra_properties": {"k": [1]}}, "extra_properties"),
    ({"name": "ok", "extra_properties": {1: "v"}}, "extra_properties"),
    ({"name": "ok", "extra_properties": {"k": True}}, "extra_properties"),
    ({"name": "ok", "tags": [str(i) for i in range(33)]}, "tags"),
    ({"name": "ok", "tags": ["t" * 1001]}, "tags"),
    ({"name": "ok", "tags": [1]}, "tags"),
    ({"name": "ok", "owners": "user:x"}, "owners"),
    ({"name": "ok", "readers": [3]}, "readers"),
])
def test_field_limits_checked_on_save(namespace, attrs, field):
    stores = [lambda b: b.save()]
    if field != "storage_state":  # uploading sets the state to available
        stores.append(lambda b: b.upload_data(b"data"))
    for store in stores:
        blob = Blob(**attrs)
        with pytest.raises(ValidationError) as info:
            store(blob)
        assert field in info.value.errors and str(info.value).startswith(f"{field}: ")
        assert isinstance(info.value, ValueError)
    assert stored_ids(namespace) == []


def test_limits_at_the_edge_are_accepted(namespace):
    ns = namespace.namespace
    name = "n" * (979 - len(ns.encode()))
    tags = ["t" * 1000] + [str(i) for i in range(31)]
    blob = Blob(name=name, description="d" * 80_000, tags=tags,
                extra_properties={str(i): i * 0.5 for i in range(50)})
    blob.upload_data(b"x")
    assert Blob.get(name=name).tags[0] == "t" * 1000


def test_save_remote_blob_and_update(namespace):
    blob = Blob(name="elsewhere", href="s3://bucket/key", readers=["group:g"])
    blob.save()
    assert blob.state == "saved" and blob.storage_state == StorageState.REMOTE
    assert blob.href == "s3://bucket/key" and blob.size_bytes is None
    with pytest.raises(NotFoundError, match=f"^Blob {blob.id} does not exist$"):
        Blob.get_data(blob.id)
    with pytest.raises(NotFoundError):
        blob.data()
    blob.description = "moved"
    blob.tags.append("t")
    blob.extra_properties["k"] = "v"
    assert blob.state == "modified"
    blob.save()
    again = Blob.get(blob.id)
    assert (again.description, again.tags, again.extra_properties) == ("moved", ["t"], {"k": "v"})
    assert again.readers == ["group:g"] and again.state == "saved"
    with pytest.raises(ValueError, match="Unable to set immutable attribute 'name'"):
        again.name = "other"
    with pytest.raises(ValueError, match="readonly attribute 'hash'"):
        again.hash = "x"
    again.tags = ["t" * 1001]
    with pytest.raises(ValidationError, match="tags"):
        again.save()
    assert Blob.get(blob.id).tags == ["t"]  # bad input changed nothing stored
    with pytest.raises(ValidationError, match="storage_state"):
        Blob(name="claims-data", storage_state="available").save()


def test_save_of_a_blob_deleted_meanwhile(namespace):
    blob = Blob(name="gone").upload_data(b"1")
    Blob.delete(blob.id)
    blob.description = "x"
    with pytest.raises(NotFoundError):
        blob.save()
    assert Blob.get(blob.id) is None


# -- reading ----------------------------------------------------------------------------
def test_get_and_get_data_missing_and_id_rules(namespace):
    assert Blob.get(name="missing") is None
    assert Blob.get("data/nowhere/x") is None
    with pytest.raises(NotFoundError, match=f"^Blob data/{namespace.namespace}/missing does "
                                            "not exist$"):
        Blob.get_data(name="missing")
    for call in (Blob.get, Blob.get_data, Blob.exists):
        with pytest.raises(TypeError, match="^Must specify exactly one of id or name parameters$"):
            call()
        with pytest.raises(TypeError, match="exactly one of id or name"):
            call(id="data/a/b", name="b")
    with pytest.raises(ValueError):
        Blob.get(name="x", storage_type="nodata")


def test_get_by_name_storage_type_and_namespace(namespace):
    ns = namespace.namespace
    Blob(name="f/j", storage_type=StorageType.COMPUTE).upload_data(b"42")
    proj = f"proj-{namespace.auth.namespace}"
    Blob(name="shared", namespace=proj).upload_data(b"p")
    got = Blob.get(name="f/j", storage_type="compute")
    assert got.id == f"compute/{ns}/f/j" and got.storage_type == "compute"
    assert Blob.get(name="f/j") is None  # storage_type defaults to data
    assert Blob.get(name="shared", namespace=proj).data() == b"p"
    assert Blob.get(name="shared", namespace=f"test:{proj}").id == f"data/test:{proj}/shared"
    assert Blob.get_data(name="f/j", storage_type=StorageType.COMPUTE, namespace=ns) == b"42"


def test_ranges(namespace):
    blob = Blob(name="digits").upload_data(b"0123456789")
    assert blob.data((0, 4)) == b"01234"
    assert blob.data((1,)) == b"123456789"
    assert blob.data([2, 3]) == b"23"
    assert blob.data("bytes=0-4") == b"01234"
    assert blob.data("bytes=7-") == b"789"
    assert blob.data("bytes=-3") == b"789"
    assert blob.data((-3,)) == b"789"
    assert blob.data((-4, -2)) == b"678"
    assert blob.data((8, 100)) == b"89"
    assert blob.data((20,)) == b""
    assert Blob.get_data(blob.id, range=(0, 4)) == b"01234"
    assert b"".join(Blob.get_data(blob.id, range=(1,), stream=True, chunk_size=4)) == b"123456789"
    assert list(blob.iter_data(chunk_size=3, range=(2, 8))) == [b"234", b"567", b"8"]
    assert list(blob.iter_data(chunk_size=5)) == [b"01234", b"56789"]
    for bad in ("0-4", "bytes=", "bytes=a-b", "bytes=4-1", (1, 2, 3), (), ("1",), (4, 1),
                (True,), 5, 1.5, {"a": 1}):
        with pytest.raises(ValueError, match="^invalid range value$"):
            blob.data(bad)
    with pytest.raises(ValueError, match="^invalid range value$"):
        Blob.get_data(blob.id, range="nope")


def test_unsaved_blob_cannot_be_read(namespace):
    blob = Blob(name="draft")
    for call in (blob.data, lambda: blob.iter_data(), lambda: blob.download(io.BytesIO()),
                 lambda: blob.iter_lines()):
        with pytest.raises(ValueError, match=f"^Blob {blob.id} has not been saved$"):
            call()


def test_download(namespace, tmp_path):
    blob = Blob(name="dl").upload_data(b"abcdef")
    target = tmp_path / "out.bin"
    assert blob.download(str(target)) == str(target)
    assert target.read_bytes() == b"abcdef"
    assert blob.download(target, range=(1, 2)) == str(target) and target.read_bytes() == b"bc"
    with open(tmp_path / "f.bin", "wb") as f:
        assert blob.download(f) == f.name
    assert (tmp_path / "f.bin").read_bytes() == b"abcdef"
    buffer = io.BytesIO()
    blob.download(buffer, range=(-2,))
    assert buffer.getvalue() == b"ef"
    with pytest.raises(ValueError, match="Invalid file value"):
        blob.download(42)
    with open(tmp_path / "t.txt", "w") as text_file, pytest.raises(ValueError):
        blob.download(text_file)
    Blob.delete(blob.id)
    with pytest.raises(NotFoundError):
        blob.download(tmp_path / "never.bin")
    assert not (tmp_path / "never.bin").exists()
    assert sorted(os.listdir(tmp_path)) == ["f.bin", "out.bin", "t.txt"]


def test_iter_lines(namespace):
    blob = Blob(name="lines").upload_data("one\r\ntwo\n\nthré\rfour".encode())
    assert list(blob.iter_lines(chunk_size=2)) == [b"one", b"two", b"", "thré".encode(), b"four"]
    assert list(blob.iter_lines(decode_unicode=True, chunk_size=1)) == [
        "one", "two", "", "thré", "four"]
    csv = Blob(name="csv").upload_data(b"a;b;;c;")
    assert list(csv.iter_lines(delimiter=b";", chunk_size=3)) == [b"a", b"b", b"", b"c"]
    assert list(csv.iter_lines(decode_unicode=True, delimiter=";")) == ["a", "b", "", "c"]


def test_get_many_and_exists(namespace):
    a = Blob(name="a").upload_data(b"a")
    b = Blob(name="b").upload_data(b"b")
    assert Blob.exists(a.id) and Blob.exists(name="b") and not Blob.exists(name="c")
    assert [x.id for x in Blob.get_many([b.id, a.id])] == [b.id, a.id]
    with pytest.raises(NotFoundError, match="data/none"):
        Blob.get_many([a.id, "data/none"])
    assert [x.id for x in Blob.get_many([a.id, "data/none"], ignore_missing=True)] == [a.id]
    many = [f"data/x/{i}" for i in range(1200)] + [a.id]
    assert [x.id for x in Blob.get_many(many, ignore_missing=True)] == [a.id]


# -- expiry -----------------------------------------------------------------------------
def test_expired_blob_counts_as_missing_and_is_purged(namespace):
    past = datetime.now(timezone.utc) - timedelta(seconds=1)
    blob = Blob(name="old", expires=past).upload_data(b"stale")
    path = blob.href
    assert Blob.get(blob.id) is None and not Blob.exists(blob.id)
    with pytest.raises(NotFoundError):
        Blob.get_data(blob.id)
    assert Blob.search().filter(Blob.name == "old").count() == 0
    assert Blob.delete(blob.id) is None  # missing to the caller, but removed
    assert not data_exists(path)

    again = Blob(name="old", expires=past).upload_data(b"stale")
    assert data_exists(again.href)
    assert Blob.purge_expired() >= 1
    assert not data_exists(again.href)
    assert stored_ids(namespace) == []
    # The id is free again, and an unexpired blob is left alone.
    fresh = Blob(name="old", expires=datetime.now(timezone.utc) + timedelta(days=1))
    fresh.upload_data(b"new")
    Blob.purge_expired()
    assert Blob.get_data(fresh.id) == b"new"


def test_blob_expires_when_its_time_passes(namespace):
    from tests.conftest import wait_until

    blob = Blob(name="soon", expires=datetime.now(timezone.utc) + timedelta(seconds=1))
    blob.upload_data(b"x")
    assert Blob.exists(blob.id)
    wait_until(lambda: Blob.get(blob.id) is None, timeout=30, message="blob to expire")
    blob.expires = datetime.now(timezone.utc) + timedelta(days=1)
    with pytest.raises(NotFoundError):
        blob.save()


def test_setting_expires_in_the_past_hides_a_saved_blob(namespace):
    blob = Blob(name="retire").upload_data(b"x")
    blob.expires = "2000-01-01T00:00:00Z"
    blob.save()
    assert Blob.get(blob.id) is None


# -- deleting ---------------------------------------------------------------------------
def test_delete_forms(namespace):
    blob = Blob(name="doomed").upload_data(b"x")
    path = blob.href
    blob.delete()
    assert blob.state == DocumentState.DELETED == "deleted"
    with pytest.raises(AttributeError, match="Blob has been deleted"):
        _ = blob.name
    assert Blob.get(name="doomed") is None and not data_exists(path)
    with pytest.raises(NotFoundError):
        blob.delete()
    with pytest.raises(ValueError, match=r"^You cannot delete an unsaved object\.$"):
        Blob(name="never").delete()
    other = Blob(name="other").upload_data(b"y")
    stale = Blob.get(other.id)
    assert Blob.delete(other.id) is True
    assert Blob.delete(other.id) is None
    with pytest.raises(NotFoundError, match="does not exist"):
        stale.delete()
    assert Blob.delete.__doc__ and Blob.delete_many.__doc__


def test_delete_many(namespace):
    ids = [Blob(name=f"m{i}").upload_data(b"x").id for i in range(3)]
    with pytest.raises(NotFoundError, match="data/missing"):
        Blob.delete_many([ids[0], "data/missing"], raise_on_missing=True)
    assert stored_ids(namespace) == sorted(ids)  # nothing deleted
    assert Blob.delete_many([ids[0], "data/missing", ids[1]], wait_for_completion=True) == [
        ids[0], ids[1]]
    assert Blob.delete_many(ids, raise_on_missing=False) == [ids[2]]
    assert stored_ids(namespace) == []
