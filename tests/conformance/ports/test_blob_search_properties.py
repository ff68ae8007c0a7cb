"""The search DSL means the same on every store (property-based): blobs.

Random blob records (lists, extra properties of mixed types, expiry) go into the blob
store under test (the local one, SQLite; the DynamoDB one on moto: the key lookup, then
the Python evaluator), and random filters, sorts, limits and offsets built with
``skyrun.catalog.properties`` must give the same ids (and counts) from it as from the
reference of ``tests/search_reference.py`` (API.md 5 and 12.3). Expired blobs count as
missing. Blobs are stored in order of (created, id), so that each store's tie-break (the
row order; created then id) agrees with the reference's stable sort.

Searches are scoped as the SDK scopes them: a namespace (a scan on DynamoDB), a
namespace and storage type (the index, with a name prefix or name when there is one),
or a list of ids (``Blob.get_many``).
"""

from __future__ import annotations

import uuid

from hypothesis import example, given
from hypothesis import strategies as st

from skyrun.catalog import properties as p
from skyrun.common.search import In, SortKey
from skyrun.common.timeutil import now
from tests import search_reference as reference
from tests.properties import property_settings

SETTINGS = property_settings(25)

BASE = 1_700_000_000.0
DATES = [BASE + 2.0 * k for k in range(4)]
#: Expiry dates: far ahead (the blob lives), or past (it counts as missing).
FUTURE = [now() + 86400 * (10 + k) for k in range(3)]
PAST = [BASE - 10.0]
TYPES = ["data", "logs", "compute"]
NAMES = ["a", "a/b", "a/c", "ab", "B", "é", "É/x", "x_y", "x%y", "zz"]
TAGS = ["t", "T", "t2", "é", "É"]
LISTS = ("tags", "owners", "readers", "writers")
#: Extra property values: numbers and text, "1" beside 1.
EXTRA_VALUES = [0, 1, 2.5, -3, "1", "a", "A", "b", "é", ""]
EXTRA_KEYS = ["n", "s", "m"]


# -- records ------------------------------------------------------------------------------
def record_strategy():
    return st.fixed_dictionaries({
        "space": st.integers(0, 1),
        "storage_type": st.sampled_from(TYPES),
        "name": st.sampled_from(NAMES),
        "data": st.none() | st.integers(0, 4),
        "created": st.sampled_from(DATES),
        "expires": st.none() | st.sampled_from(FUTURE + PAST),
        "tags": st.lists(st.sampled_from(TAGS), max_size=2, unique=True),
        "readers": st.lists(st.sampled_from(["user:x", "org:y", "group:z"]), max_size=2,
                            unique=True),
        "extra": st.fixed_dictionaries({}, optional={
            "n": st.integers(-3, 3) | st.sampled_from([0.5, 2.5]),
            "s": st.sampled_from(["1", "a", "A", "b", "é", ""]),
            "m": st.sampled_from(EXTRA_VALUES)}),
    })


def stored_records(drafts: list[dict], namespaces: list[str]) -> list[tuple[dict, bytes]]:
    """Blob records (and their data, or None for a remote blob), unique by id, in the
    order they are stored."""
    out: dict[str, tuple[dict, bytes | None]] = {}
    for d in drafts:
        ns = namespaces[d["space"]]
        blob_id = f"{d['storage_type']}/{ns}/{d['name']}"
        data = None if d["data"] is None else b"x" * d["data"]
        out.setdefault(blob_id, ({
            "id": blob_id, "namespace": ns, "name": d["name"],
            "storage_type": d["storage_type"],
            "storage_state": "remote" if data is None else "available",
            "size_bytes": None if data is None else len(data),
            "created": d["created"], "expires": d["expires"], "tags": d["tags"],
            "owners": [f"user:{ns}", "org:test"], "readers": d["readers"], "writers": [],
            "extra_properties": d["extra"],
        }, data))
    return sorted(out.values(), key=lambda pair: (pair[0]["created"], pair[0]["id"]))


def view(record: dict) -> dict:
    """The fields a search sees, extra properties as ``extra_properties.<key>``."""
    out = dict(record)
    for k, v in (record.get("extra_properties") or {}).items():
        out[f"extra_properties.{k}"] = v
    return out


# -- filters ------------------------------------------------------------------------------
PATTERN = st.text(alphabet="abtTéÉx/12%_", max_size=4)
SORTABLE = ["name", "storage_type", "storage_state", "size_bytes", "created", "expires",
            "namespace", "extra_properties.n", "extra_properties.s", "extra_properties.m"]
NULLABLE = ["size_bytes", "expires", "extra_properties.n", "extra_properties.s",
            "extra_properties.m", "extra_properties.none"]


def leaf(namespaces):
    extra = st.sampled_from(EXTRA_VALUES)
    values = {
        "name": st.sampled_from(NAMES + ["nope"]),
        "namespace": st.sampled_from(namespaces),
        "storage_type": st.sampled_from(TYPES + ["dyncomp"]),
        "storage_state": st.sampled_from(["available", "remote"]),
        "size_bytes": st.integers(-1, 5),
        "created": st.sampled_from(DATES + [BASE + 1, BASE + 100]),
        "expires": st.sampled_from(FUTURE),
        "tags": st.sampled_from(TAGS + ["zz"]),
        "readers": st.sampled_from(["user:x", "org:y", "group:z", "user:"]),
        "extra_properties.n": extra, "extra_properties.s": extra,
        "extra_properties.m": extra,
    }
    texts = ["name", "tags", "readers", "storage_type", "extra_properties.s",
             "extra_properties.m", "extra_properties.n", "size_bytes"]
    field = st.sampled_from(sorted(values))
    return st.one_of(
        field.flatmap(lambda n: st.tuples(st.just("cmp"), st.just(n),
                                          st.sampled_from(reference.OPS), values[n])),
        field.flatmap(lambda n: st.tuples(st.just("in"), st.just(n),
                                          st.lists(values[n], min_size=1, max_size=3))),
        st.tuples(st.just("prefix"), st.sampled_from(texts), PATTERN.map(lambda s: s[:2])),
        st.tuples(st.just("like"), st.sampled_from(texts), PATTERN, st.booleans()),
        st.tuples(st.just("null"), st.sampled_from(NULLABLE), st.booleans()),
    )


def filters(namespaces):
    return st.recursive(leaf(namespaces),
                        lambda inner: st.tuples(st.sampled_from(["and", "or"]), inner, inner),
                        max_leaves=4)


def blob_dsl(tree):
    def ids(leaf):
        if leaf[0] == "in" and leaf[1] == "id":
            return In("id", tuple(leaf[2]), "str")  # as Blob.get_many asks
        return None

    return reference.to_dsl(tree, lambda name: p[name] if "." not in name
                            else p.extra_properties[name.split(".", 1)[1]], ids)


# -- the property -------------------------------------------------------------------------
def fresh_namespaces() -> list[str]:
    return [f"test:b{uuid.uuid4().hex[:10]}" for _ in range(2)]


@st.composite
def scenarios(draw):
    namespaces = fresh_namespaces()
    blobs = stored_records(draw(st.lists(record_strategy(), max_size=8)), namespaces)
    ids = [r["id"] for r, _ in blobs]
    searches = []
    for _ in range(draw(st.integers(1, 4))):
        scope = draw(st.sampled_from(["namespace", "typed", "ids"]))
        ns = draw(st.sampled_from(namespaces))
        if scope == "namespace":
            scoped = ("cmp", "namespace", "==", ns)
        elif scope == "typed":
            scoped = ("and", ("cmp", "namespace", "==", ns),
                      ("cmp", "storage_type", "==", draw(st.sampled_from(TYPES))))
        else:
            scoped = ("in", "id", draw(st.lists(st.sampled_from(ids + ["data/x/nope"]),
                                                min_size=1, max_size=4)))
        tree = draw(st.none() | filters(namespaces))
        tree = scoped if tree is None else ("and", scoped, tree)
        keys = draw(st.lists(st.tuples(st.sampled_from(SORTABLE), st.booleans()),
                             max_size=2, unique_by=lambda k: k[0]))
        limit = draw(st.none() | st.integers(0, 5))
        offset = draw(st.sampled_from([0, 0, 1, 2]))
        searches.append((tree, keys, limit, offset))
    return blobs, searches


def pinned(drafts: list[dict], searches):
    """A fixed scenario: ``drafts`` override a default blob; ``searches(namespaces)``."""
    default = {"space": 0, "storage_type": "data", "data": None, "created": DATES[0],
               "expires": None, "tags": [], "readers": [], "extra": {}}
    namespaces = fresh_namespaces()
    blobs = stored_records([dict(default, **d) for d in drafts], namespaces)
    return blobs, searches(namespaces)


@SETTINGS
@given(scenario=scenarios())
@example(scenario=pinned([{"name": "a", "tags": ["é"]}], lambda ns: [
    (("and", ("cmp", "namespace", "==", ns[0]), ("like", "tags", "É", True)), [], None, 0)]))
# prefix and like match text only: SQLite matched the number 12 as the text "12".
@example(scenario=pinned([{"name": "a", "extra": {"n": 12}, "data": 3},
                          {"name": "b", "extra": {"n": "12"}}], lambda ns: [
    (("and", ("cmp", "namespace", "==", ns[0]), ("like", "extra_properties.n", "%", False)),
     [], None, 0),
    (("and", ("cmp", "namespace", "==", ns[0]), ("prefix", "extra_properties.n", "1")),
     [], None, 0),
    (("and", ("cmp", "namespace", "==", ns[0]), ("like", "size_bytes", "_", True)),
     [], None, 0)]))
def test_blob_search_matches_the_reference(backend, scenario):
    blobs, searches = scenario
    t = now()
    live = [view(r) for r, _ in blobs if r["expires"] is None or r["expires"] > t]
    store = backend.blobs
    for record, data in blobs:
        store.put(dict(record), data)
    for tree, keys, limit, offset in searches:
        expected_all = reference.sort([r for r in live if reference.matches(tree, r, LISTS)],
                                      keys)
        expected = [r["id"] for r in reference.page(expected_all, limit, offset)]
        where = blob_dsl(tree)
        sort = [SortKey(field, descending) for field, descending in keys]
        found = [r["id"] for r in store.search(where, sort, limit=limit, offset=offset)]
        assert found == expected, (tree, keys, limit, offset)
        assert store.count(where) == len(expected_all), tree
