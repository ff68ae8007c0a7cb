"""Blob searches: the operators of API section 5 on blob properties, run in SQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from skyrun.catalog import Blob, BlobSearch, StorageType
from skyrun.catalog import properties as p
from skyrun.common import lazysearch


@pytest.fixture
def blobs(namespace):
    """Five blobs of the test namespace: sizes 1..5, some tags, one expiring, one remote."""
    later = datetime(2100, 1, 1, tzinfo=timezone.utc)
    made = [
        Blob(name="dir/a", tags=["red", "big"], extra_properties={"k": 1, "s": "x"},
             writers=["user:w"]).upload_data(b"1"),
        Blob(name="dir/b", tags=["red"], extra_properties={"k": 2}).upload_data(b"22"),
        Blob(name="dir/sub/C", tags=["blue"], expires=later).upload_data(b"333"),
        Blob(name="other", storage_type=StorageType.COMPUTE, readers=["email:a@b.c"],
             extra_properties={"k": "1"}).upload_data(b"4444"),
        Blob(name="remote", description="somewhere else"),
    ]
    made[-1].save()
    return made


def names(search) -> list[str]:
    return [b.name for b in search]


def mine(namespace) -> BlobSearch:
    return Blob.search().filter(p.namespace == namespace.namespace)


def test_search_is_lazy_and_immutable(namespace, blobs):
    s = mine(namespace)
    narrowed = s.filter(p.tags == "red").sort("name").limit(1)
    assert s.count() == 5 and narrowed.count() == 2 and names(narrowed) == ["dir/a"]
    assert isinstance(s.collect(), list) and len(s.collect()) == 5
    assert all(b.state == "saved" for b in s)
    with pytest.raises(TypeError, match="Expected an Expression not: str"):
        s.filter("name == 'x'")


def test_comparisons(namespace, blobs):
    s = mine(namespace)
    assert names(s.filter(p.name == "dir/b")) == ["dir/b"]
    assert sorted(names(s.filter(p.name != "dir/b"))) == ["dir/a", "dir/sub/C", "other", "remote"]
    assert sorted(names(s.filter(p.size_bytes < 3))) == ["dir/a", "dir/b"]
    assert sorted(names(s.filter(p.size_bytes >= 3))) == ["dir/sub/C", "other"]
    chained = 2 < p.size_bytes <= 3  # built outside assert: pytest rewrites comparisons there
    assert names(s.filter(chained)) == ["dir/sub/C"]
    assert sorted(names(s.filter(p.storage_type == StorageType.COMPUTE))) == ["other"]
    assert sorted(names(s.filter(p.storage_state == "remote"))) == ["remote"]
    assert sorted(names(s.filter(p.name.in_(["dir/a", "other", "nope"])))) == ["dir/a", "other"]
    assert sorted(names(s.filter(p.name.any_of(["dir/b"])))) == ["dir/b"]
    with pytest.raises(ValueError, match="in_ expression requires at least one item"):
        p.name.in_([])


def test_strings(namespace, blobs):
    s = mine(namespace)
    assert sorted(names(s.filter(p.name.prefix("dir/")))) == ["dir/a", "dir/b", "dir/sub/C"]
    assert sorted(names(s.filter(p.name.startswith("dir/sub/")))) == ["dir/sub/C"]
    assert names(s.filter(p.name.prefix("DIR/"))) == []  # case-sensitive
    assert sorted(names(s.filter(p.name.like("dir/_")))) == ["dir/a", "dir/b"]
    assert names(s.filter(p.name.like("%/c"))) == []
    assert names(s.filter(p.name.ilike("%/c"))) == ["dir/sub/C"]
    assert sorted(names(s.filter(p.name.like("%e%")))) == ["other", "remote"]


def test_nulls(namespace, blobs):
    s = mine(namespace)
    assert sorted(names(s.filter(p.expires.isnotnull))) == ["dir/sub/C"]
    assert len(names(s.filter(p.expires.isnull))) == 4
    assert sorted(names(s.filter(p.size_bytes.isnull))) == ["remote"]
    # A null matches only isnull: not !=, not <.
    assert "remote" not in names(s.filter(p.size_bytes != 1))
    assert "remote" not in names(s.filter(p.size_bytes < 100))


def test_combinators(namespace, blobs):
    s = mine(namespace)
    either = s.filter((p.name == "dir/a") | (p.storage_type == "compute"))
    assert sorted(names(either)) == ["dir/a", "other"]
    both = s.filter((p.tags == "red") & (p.size_bytes > 1))
    assert names(both) == ["dir/b"]
    nested = s.filter(((p.tags == "blue") | (p.tags == "big")) & p.name.prefix("dir/"))
    assert sorted(names(nested)) == ["dir/a", "dir/sub/C"]


def test_list_fields_mean_contains(namespace, blobs):
    s = mine(namespace)
    assert sorted(names(s.filter(p.tags == "red"))) == ["dir/a", "dir/b"]
    assert sorted(names(s.filter(p.tags != "red"))) == ["dir/sub/C", "other", "remote"]
    assert sorted(names(s.filter(p.tags.in_(["big", "blue"])))) == ["dir/a", "dir/sub/C"]
    assert sorted(names(s.filter(p.tags.prefix("bl")))) == ["dir/sub/C"]
    assert s.filter(p.tags == "re").count() == 0
    assert names(s.filter(p.writers == "user:w")) == ["dir/a"]
    assert names(s.filter(p.readers == "email:a@b.c")) == ["other"]
    assert s.filter(p.owners == f"user:{namespace.namespace}").count() == 5
    assert s.filter(p.owners == "org:test").count() == 5


def test_sort_and_limit(namespace, blobs):
    s = mine(namespace)
    assert names(s.sort("size_bytes")) == ["dir/a", "dir/b", "dir/sub/C", "other", "remote"]
    assert names(s.sort("size_bytes", ascending=False)) == [
        "remote", "other", "dir/sub/C", "dir/b", "dir/a"]
    assert names(s.sort("name", False).sort("size_bytes").limit(2)) == ["dir/a", "dir/b"]
    assert names(s.sort(p.name)) == sorted(b.name for b in blobs)
    assert names(s.sort("expires", ascending=False).limit(1)) != ["dir/sub/C"]  # nulls first
    assert names(s.sort("expires").limit(1)) == ["dir/sub/C"]
    assert s.limit(2).count() == 5 and len(s.limit(2).collect()) == 2
    assert names(s.limit(0)) == []
    with pytest.raises(ValueError, match="^Cannot sort on property: tags$"):
        s.sort("tags")
    with pytest.raises(ValueError, match="limit"):
        s.limit(-1)


def test_filter_and_sort_by_created_as_utc(namespace, blobs):
    s = mine(namespace)
    first = min(b.created for b in blobs)
    assert s.filter(p.created > "2024-01-01T00:00:00Z").count() == 5
    assert s.filter(p.created > "2024-01-01").count() == 5
    assert s.filter(p.created < datetime(2024, 1, 1, tzinfo=timezone.utc)).count() == 0
    as_utc = first.astimezone(timezone.utc)
    as_other_zone = first.astimezone(timezone(timedelta(hours=-7)))
    assert s.filter(p.created == as_utc).count() == s.filter(p.created == as_other_zone).count()
    assert s.filter(p.created >= as_other_zone).count() == 5
    assert names(s.sort("created").limit(1)) == ["dir/a"]
    # 2100-01-01T01:00+02:00 is 2099-12-31T23:00Z: earlier than the expiry as an instant,
    # though later on the clock face.
    assert s.filter(p.expires > "2100-01-01T01:00:00+02:00").count() == 1
    assert s.filter(p.expires > "2100-01-01T00:30:00Z").count() == 0


def test_extra_properties(namespace, blobs):
    s = mine(namespace)
    assert names(s.filter(p.extra_properties.k == 1)) == ["dir/a"]
    assert names(s.filter(p.extra_properties["k"] == "1")) == ["other"]  # types are exact
    assert sorted(names(s.filter(p.extra_properties.k >= 1))) == ["dir/a", "dir/b"]
    assert names(s.filter(p.extra_properties.k >= "0")) == ["other"]
    assert names(s.filter(p.extra_properties.s.prefix("x"))) == ["dir/a"]
    assert sorted(names(s.filter(p.extra_properties.s.isnull))) == [
        "dir/b", "dir/sub/C", "other", "remote"]
    assert names(s.filter(p.extra_properties.k.isnotnull).sort("extra_properties.k")) == [
        "dir/a", "dir/b", "other"]
    with pytest.raises(ValueError, match="Cannot filter on property: extra_properties"):
        s.filter(p.extra_properties == {"k": 1})
    with pytest.raises(ValueError, match="double quotes"):
        p.extra_properties['a"b']  # noqa: B018
    with pytest.raises(AttributeError, match="Blob has no attribute name.k"):
        p.name.k  # noqa: B018


def test_unknown_and_unfilterable_names(namespace, blobs):
    s = Blob.search().filter(p.colour == "red")  # accepted until the search runs
    with pytest.raises(AttributeError, match="^Blob has no attribute colour$"):
        s.count()
    with pytest.raises(AttributeError, match="^Blob has no attribute colour$"):
        list(s)
    with pytest.raises(AttributeError, match="^Blob has no attribute shade$"):
        Blob.search().sort("shade").collect()
    with pytest.raises(ValueError, match="^Cannot filter on property: description$"):
        p.description == "x"  # noqa: B015
    with pytest.raises(ValueError, match="^Cannot filter on property: href$"):
        p.href.isnull  # noqa: B018


def test_search_spans_namespaces(namespace, blobs):
    Blob(name="elsewhere", namespace=f"side-{namespace.auth.namespace}").upload_data(b"x")
    side = f"test:side-{namespace.auth.namespace}"
    everywhere = Blob.search().filter(p.name.in_(["elsewhere", "dir/a"])).filter(
        p.namespace.in_([namespace.namespace, side, "test:nobody"]))
    namespaces = {b.namespace for b in everywhere}
    assert namespaces == {namespace.namespace, side}


def test_tag_scenario_40(namespace):
    for i in range(4):
        Blob(name=f"t{i}", tags=["even" if i % 2 == 0 else "odd", "all"]).upload_data(b"x" * i)
    s = mine(namespace).filter(p.tags == "even")
    assert s.count() == 2
    assert [b.name for b in s.sort("size_bytes", ascending=False)] == ["t2", "t0"]
    assert mine(namespace).filter(p.tags == "all").count() == 4


def test_paging_over_many_blobs(namespace, monkeypatch):
    # Pages of 25 instead of 1,000 (the same loop, a fortieth of the blobs to store: on
    # AWS each is a request): 3 full pages and a part, and a limit inside the last page.
    monkeypatch.setattr(lazysearch, "PAGE", 25)
    fetched = []
    fetch = BlobSearch._fetch
    monkeypatch.setattr(BlobSearch, "_fetch", lambda self, where, size, offset: (
        fetched.append((size, offset)), fetch(self, where, size, offset))[1])
    rows = [{"id": f"data/{namespace.namespace}/bulk/{i:04d}", "namespace": namespace.namespace,
             "name": f"bulk/{i:04d}", "storage_type": "data", "storage_state": "remote"}
            for i in range(83)]
    for row in rows:
        namespace.backend.blobs.put(row, None)
    s = mine(namespace).filter(p.name.prefix("bulk/")).sort("name")
    got = [b.name for b in s]
    assert len(got) == 83 and got == sorted(got) and len(set(got)) == 83
    assert fetched == [(25, 0), (25, 25), (25, 50), (25, 75)]
    assert len(s.limit(80).collect()) == 80
    assert [b.name for b in s.limit(30)] == got[:30]
