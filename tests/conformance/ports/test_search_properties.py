"""The search DSL means the same on every store (property-based): jobs.

Random job records go into the store under test (the local one, SQLite: the compiled
SQL; the DynamoDB one on moto: the query planner, then the Python evaluator), and random
filters, sorts, limits and offsets must give the same ids (and counts) from it as from
the plain reference of ``tests/search_reference.py``, which follows API.md section 5 and knows
nothing of either store. Records that no sort key separates keep their order of
creation: the records are stored in that order, so that each store's tie-break (the row
order; creation date then id number) agrees with it.

Each example stores a few records in a namespace of its own (with two Functions), then
runs several searches, each scoped the way the SDK or a store lookup scopes it: the
namespace (Function and Job searches), a function id (a Function's jobs), or a list of
ids (a record read back), so that every lookup path of the planner is exercised.
"""

from __future__ import annotations

import uuid

from hypothesis import example, given
from hypothesis import strategies as st

from skyrun.backends.ports import JOB
from skyrun.common.search import SortKey
from skyrun.compute import Job
from skyrun.compute.search import scope_namespace
from tests import search_reference as reference
from tests.properties import property_settings

#: Each example stores up to 10 records and runs 1 to 4 searches on the store.
SETTINGS = property_settings(50)

STATUSES = ["pending", "running", "cancel", "canceling", "success", "failure", "timeout",
            "canceled"]
BASE = 1_700_000_000.0
#: Few distinct instants, so that ranges, equality and ties all happen.
DATES = [BASE + 1.5 * k for k in range(5)]
#: Tag text: case pairs (ASCII and not), and the LIKE wildcards as plain characters.
TAG_CHARS = "aAbéÉ_%"
TAGS = ["a", "A", "ab", "aB", "é", "É", "éa", "a_b", "a%", "b"]

NULLABLE = {"exit_code", "runtime", "last_completion_date"}
SORTABLE = ["id", "status", "creation_date", "execution_count", "exit_code", "runtime",
            "last_completion_date"]


# -- records ------------------------------------------------------------------------------
def record_strategy():
    return st.fixed_dictionaries({
        "function": st.integers(0, 1),
        "status": st.sampled_from(STATUSES),
        "creation_date": st.sampled_from(DATES),
        "execution_count": st.integers(0, 3),
        "exit_code": st.none() | st.integers(-1, 2),
        "runtime": st.none() | st.integers(0, 4) | st.sampled_from([0.5, 2.5]),
        "last_completion_date": st.none() | st.sampled_from(DATES),
        "tags": st.lists(st.sampled_from(TAGS), max_size=3, unique=True),
    })


def stored_records(drafts: list[dict], namespace: str, function_ids: list[str]):
    """Job records as ``map()`` stores them, in order of creation."""
    reference_id = uuid.uuid4().hex
    drafts = sorted(drafts, key=lambda d: d["creation_date"])
    records = []
    for i, draft in enumerate(drafts):
        records.append({
            "id": f"{reference_id}-{i}", "function_id": function_ids[draft["function"]],
            "namespace": namespace, "reference_id": reference_id,
            "status": draft["status"], "args": [i], "kwargs": None, "environment": None,
            "tags": draft["tags"], "creation_date": draft["creation_date"],
            "queued_date": draft["creation_date"],
            "execution_count": draft["execution_count"], "exit_code": draft["exit_code"],
            "runtime": draft["runtime"],
            "last_completion_date": draft["last_completion_date"],
        })
    return reference_id, records


# -- filters: a small tree of tuples, turned into the DSL and evaluated by the reference --
# ("cmp", name, op, value) | ("in", name, values) | ("prefix", name, text)
# | ("like", name, pattern, ignore_case) | ("null", name, negate) | ("and"|"or", a, b)
OPS = list(reference.OPS)
LISTS = ("tags",)
PATTERN = st.text(alphabet=TAG_CHARS + "%_", min_size=0, max_size=4)


def leaf(ids: list[str], function_ids: list[str]):
    status = st.sampled_from(STATUSES + ["zzz", "Pending"])
    number = st.integers(-1, 4) | st.sampled_from([0.5, 2.5, 1.0])
    date = st.sampled_from(DATES + [BASE - 1, BASE + 0.75, BASE + 100])
    values = {
        "status": status, "execution_count": number, "exit_code": number,
        "runtime": number, "creation_date": date, "last_completion_date": date,
        "id": st.sampled_from(ids + ["nope"]) if ids else st.just("nope"),
        "function_id": st.sampled_from(function_ids + ["other"]),
        "tags": st.sampled_from(TAGS + ["zz"]),
    }
    texts = {"status": status, "tags": st.sampled_from(TAGS + ["zz"]),
             "id": values["id"]}
    scalar = st.sampled_from(sorted(values))
    return st.one_of(
        scalar.flatmap(lambda n: st.tuples(st.just("cmp"), st.just(n), st.sampled_from(OPS),
                                           values[n])),
        scalar.flatmap(lambda n: st.tuples(st.just("in"), st.just(n),
                                           st.lists(values[n], min_size=1, max_size=3))),
        st.sampled_from(["status", "tags", "id"]).flatmap(
            lambda n: st.tuples(st.just("prefix"), st.just(n),
                                texts[n].map(lambda v: v[:2]))),
        st.sampled_from(["status", "tags"]).flatmap(
            lambda n: st.tuples(st.just("like"), st.just(n), PATTERN, st.booleans())),
        st.tuples(st.just("null"), st.sampled_from(sorted(NULLABLE)), st.booleans()),
    )


def filters(ids, function_ids):
    return st.recursive(
        leaf(ids, function_ids),
        lambda inner: st.tuples(st.sampled_from(["and", "or"]), inner, inner),
        max_leaves=4)


def job_dsl(tree):
    """The expression the SDK builds for ``tree``."""
    def namespace(leaf):
        if leaf[1] == "namespace":
            return scope_namespace(leaf[3])  # the SDK's own scope; Job has no such field
        return None

    return reference.to_dsl(tree, lambda name: getattr(Job, name), namespace)


# -- the property --------------------------------------------------------------------------
def fresh_names() -> tuple[str, list[str]]:
    """A namespace and two function ids that no other example uses."""
    return f"test:p{uuid.uuid4().hex[:10]}", [uuid.uuid4().hex[:16], uuid.uuid4().hex[:16]]


DEFAULT_DRAFT = {"function": 0, "status": "pending", "creation_date": DATES[0],
                 "execution_count": 0, "exit_code": None, "runtime": None,
                 "last_completion_date": None, "tags": []}


def pinned(drafts: list[dict], searches):
    """A fixed scenario for ``@example``: ``drafts`` override the default record, and
    ``searches(namespace, function_ids, ids)`` gives ``(filter, sort, limit, offset)``s."""
    namespace, function_ids = fresh_names()
    reference_id, records = stored_records([dict(DEFAULT_DRAFT, **d) for d in drafts],
                                           namespace, function_ids)
    return reference_id, records, searches(namespace, function_ids,
                                           [r["id"] for r in records])


def in_namespace(namespace: str, tree):
    return ("and", ("cmp", "namespace", "==", namespace), tree)


@st.composite
def scenarios(draw):
    drafts = draw(st.lists(record_strategy(), max_size=10))
    namespace, function_ids = fresh_names()
    reference_id, records = stored_records(drafts, namespace, function_ids)
    ids = [r["id"] for r in records]
    searches = []
    for _ in range(draw(st.integers(1, 4))):
        scope = draw(st.sampled_from(["namespace", "function", "ids"]))
        if scope == "namespace":
            scoped = ("cmp", "namespace", "==", namespace)
        elif scope == "function":
            scoped = ("cmp", "function_id", "==", draw(st.sampled_from(function_ids)))
        else:
            chosen = draw(st.lists(st.sampled_from(ids + ["nope"]) if ids else st.just("nope"),
                                   min_size=1, max_size=4))
            scoped = ("in", "id", chosen)
        tree = draw(st.none() | filters(ids, function_ids))
        tree = scoped if tree is None else ("and", scoped, tree)
        if draw(st.booleans()):
            tree = ("and", tree, scoped)  # the scope need not come first
        keys = draw(st.lists(st.tuples(st.sampled_from(SORTABLE), st.booleans()),
                             max_size=2, unique_by=lambda k: k[0]))
        limit = draw(st.none() | st.integers(0, 6))
        offset = draw(st.sampled_from([0, 0, 1, 3]))
        searches.append((tree, keys, limit, offset))
    return reference_id, records, searches


@SETTINGS
@given(scenario=scenarios())
@example(scenario=pinned([], lambda ns, fids, ids: [
    (("cmp", "namespace", "==", ns), [], None, 0)]))
# ilike ignores the case of every letter, not only ASCII (SQLite's lower() did).
@example(scenario=pinned([{"tags": ["é"]}, {"tags": ["Éa"]}, {"status": "Pending"}],
                         lambda ns, fids, ids: [
    (in_namespace(ns, ("like", "tags", "É", True)), [], None, 0),
    (in_namespace(ns, ("like", "tags", "é%", True)), [], None, 0),
    (("and", ("cmp", "function_id", "==", fids[0]), ("like", "status", "p%", True)),
     [], None, 0)]))
def test_search_matches_the_reference(backend, scenario):
    reference_id, records, searches = scenario
    store = backend.store
    if records:
        store.insert_jobs(reference_id, [dict(r) for r in records])
    for tree, keys, limit, offset in searches:
        expected_all = reference.sort([r for r in records
                                       if reference.matches(tree, r, LISTS)], keys)
        expected = [r["id"] for r in reference.page(expected_all, limit, offset)]
        where = job_dsl(tree)
        sort = [SortKey(name, descending) for name, descending in keys]
        found = [r["id"] for r in store.query(JOB, where, sort, limit=limit, offset=offset)]
        assert found == expected, (tree, keys, limit, offset)
        assert store.count(JOB, where) == len(expected_all), tree
