"""The monitor's JSON API over HTTP, endpoint by endpoint, without a browser."""

from __future__ import annotations

import pytest

from skyrun.auth import Auth
from skyrun.compute import ComputeClient, ComputeResult, Function, Job, JobStatus
from skyrun.exceptions import NotFoundError
from tests.conftest import wait_until


def echo(x):
    return x


def outcome(kind):
    print(f"making {kind}")
    if kind == "bytes":
        return ComputeResult(b"\x89PNG\r\n\x1a\n\x00\x01")
    if kind == "text":
        return ComputeResult(b"plain words, not JSON")
    if kind == "none":
        return None
    if kind == "fail":
        raise RuntimeError("it broke")
    return {"kind": kind, "n": [1, 2]}


def stopped_function(n_jobs: int = 3, **settings) -> tuple[Function, list[Job]]:
    """A built Function that does not dispatch, so its jobs stay pending."""
    fn = Function(echo, auto_start=False, **settings)
    fn.save()
    jobs = list(fn.map(range(n_jobs))) if n_jobs else []
    return fn, jobs


def test_info_and_functions(call, namespace):
    fn, _ = stopped_function(2)
    other = ComputeClient(auth=Auth(org="test", user="someone-else"))
    theirs = Function(echo, client=other)
    theirs.save()

    answer = call("GET", "/api/info")
    assert answer.status == 200
    assert answer.data == {"backend": "local", "namespace": namespace.namespace}

    answer = call("GET", "/api/functions")
    assert answer.status == 200
    [row] = answer.data["functions"]  # only the caller's namespace
    assert row["id"] == fn.id and row["name"] == "echo"
    assert row["job_statistics"] == {"pending": 2, "running": 0, "cancel": 0, "canceling": 0,
                                     "success": 0, "failure": 0, "timeout": 0, "canceled": 0}
    assert (row["cpus"], row["memory"], row["maximum_concurrency"]) == (1.0, 2048, 10)
    assert row["image"] == fn.image and row["creation_date"] == fn.to_dict()["creation_date"]
    # Pending jobs of a stopped Function wait for a person: no fast refresh.
    assert row["live"] is False and answer.data["live"] is False

    answer = call("GET", f"/api/functions/{fn.id}")
    assert answer.status == 200 and answer.data["status"] == "stopped"
    assert answer.data["job_statistics"]["pending"] == 2
    assert call("GET", f"/api/functions/{theirs.id}").status == 404
    answer = call("GET", "/api/functions/no-such-id")
    assert answer.status == 404 and answer.data["error"] == "Function no-such-id not found"


def test_settings_are_validated_by_the_sdk(call):
    fn, _ = stopped_function(0)
    path = f"/api/functions/{fn.id}"

    answer = call("PATCH", path, {"maximum_concurrency": "3", "timeout": "90",
                                  "retry_count": "2", "cpus": "1", "memory": "2048"})
    assert answer.status == 200, answer.data
    assert answer.data["maximum_concurrency"] == 3
    stored = Function.get(fn.id)
    assert (stored.maximum_concurrency, stored.timeout, stored.retry_count) == (3, 90, 2)

    answer = call("PATCH", path, {"cpus": "0.5", "memory": "1GB"})
    assert answer.status == 200 and (answer.data["cpus"], answer.data["memory"]) == (0.5, 1024)

    def rejected(body):
        answer = call("PATCH", path, body)
        assert answer.status == 422, answer.data
        assert answer.data["type"] == "ValidationError"
        return answer.data["errors"]

    before = Function.get(fn.id).to_dict()
    assert rejected({"cpus": "3"}) == {
        "cpus": ["3 is not an allowed value; allowed: 0.25, 0.5, 1, 2, 4, 8, 16"]}
    assert rejected({"memory": "100TB"}) == {
        "memory": ["Unable to assign memory: Unable to convert memory to megabytes: 100TB"]}
    errors = rejected({"maximum_concurrency": "0", "retry_count": "many", "timeout": "2.5"})
    assert errors == {"maximum_concurrency": ["0 is out of range; allowed: 1 to 1000"],
                      "retry_count": ["'many' is not an integer; allowed: 0 to 10"],
                      "timeout": ["'2.5' is not an integer; allowed: 1 to 1209600 seconds"]}
    assert rejected({"memory": "8GB"}) == {
        "memory": ["8192 MB is not allowed with cpus=0.5; allowed for cpus=0.5: 1024, 2048, "
                   "3072, 4096"]}
    errors = rejected({"name": "renamed", "image": "python3.9"})
    assert set(errors) == {"name", "image"}
    assert call("PATCH", path, ["not", "an", "object"]).status == 422
    assert call("PATCH", path, raw=b"{nope").status == 400
    assert Function.get(fn.id).to_dict() == before  # nothing was stored


def test_function_actions_and_build_log(call):
    fn, jobs = stopped_function(1)
    path = f"/api/functions/{fn.id}"
    answer = call("POST", f"{path}/disable")
    assert answer.status == 200 and answer.data["enabled"] is False
    assert Function.get(fn.id).enabled is False
    assert call("POST", f"{path}/enable").data["enabled"] is True
    jobs[0].cancel()
    assert call("POST", f"{path}/start").data["status"] == "ready"
    assert Function.get(fn.id).status == "ready"
    assert call("POST", f"{path}/stop").data["status"] == "stopped"
    assert call("POST", f"{path}/explode").status == 404
    assert call("GET", f"{path}/start").status == 405

    answer = call("GET", f"{path}/build-log")
    assert answer.status == 200 and answer.data["text"] == fn.build_log()
    assert answer.data["text"]

    answer = call("DELETE", f"{path}?delete_results=1")
    assert answer.status == 200 and answer.data == {"deleted": fn.id}
    assert call("GET", path).status == 404
    assert call("DELETE", path).status == 404


def test_job_table_filters_sorting_paging(call):
    fn = Function(echo, auto_start=False)
    fn.save()
    red = fn.map([10, 11, 12], tags=["red"])
    blue = fn.map([20, 21], tags=["blue"])
    red[1].cancel()
    path = f"/api/functions/{fn.id}/jobs"

    page = call("GET", path).data
    assert page["total"] == 5 and page["offset"] == 0 and page["sort"] == "-creation_date"
    assert {j["id"] for j in page["jobs"]} == {j.id for j in [*red, *blue]}
    row = next(j for j in page["jobs"] if j["id"] == red[0].id)
    assert row["args"] == "[10]" and row["tags"] == ["red"] and row["status"] == "pending"
    assert "statistics" not in row and "environment" not in row

    def ids(query):
        answer = call("GET", f"{path}?{query}")
        assert answer.status == 200, answer.data
        return [j["id"] for j in answer.data["jobs"]]

    assert set(ids("status=canceled")) == {red[1].id}
    assert set(ids("status=canceled&status=pending")) == {j.id for j in [*red, *blue]}
    assert set(ids("tag=blue")) == {j.id for j in blue}
    assert ids("tag=blue&status=canceled") == []
    assert ids("sort=-status")[-1] == red[1].id
    assert ids("sort=status")[0] == red[1].id  # "canceled" sorts before "pending"
    everything = ids("sort=id")
    assert everything == sorted(everything)
    assert ids("sort=id&offset=2&limit=2") == everything[2:4]
    assert ids("sort=id&offset=4&limit=2") == everything[4:]
    today = red[0].creation_date.date().isoformat()
    assert len(ids(f"created_from={today}&created_to={today}")) == 5
    assert ids("created_from=2999-01-01") == []
    assert ids("created_to=2000-01-01") == []
    for bad in ("status=lost", "sort=args", "limit=0", "limit=x", "offset=-1",
                "created_from=yesterday"):
        answer = call("GET", f"{path}?{bad}")
        assert answer.status == 422, bad
        assert answer.data["errors"], bad
    assert call("GET", "/api/functions/nope/jobs").status == 404


def test_bulk_cancel_rerun_delete(call):
    fn, jobs = stopped_function(4)
    path = f"/api/functions/{fn.id}/jobs"

    answer = call("POST", f"{path}/cancel", {"job_ids": [jobs[0].id, jobs[1].id]})
    assert answer.status == 200
    assert answer.data["count"] == 2 and set(answer.data["ids"]) == {jobs[0].id, jobs[1].id}
    assert Job.get(jobs[0].id).status == JobStatus.CANCELED

    answer = call("POST", f"{path}/rerun", {"all": True, "filters": {"status": "canceled"}})
    assert answer.status == 200 and answer.data["count"] == 2
    assert Job.get(jobs[1].id).status == JobStatus.PENDING

    answer = call("POST", f"{path}/cancel", {"all": True, "filters": {}})
    assert answer.data["count"] == 4
    assert {j.status for j in fn.jobs} == {JobStatus.CANCELED}

    answer = call("POST", f"{path}/delete", {"job_ids": [jobs[3].id], "delete_results": True})
    assert answer.data == {"action": "delete", "count": 1, "ids": [jobs[3].id]}
    assert fn.jobs.count() == 3

    fn.disable()
    answer = call("POST", f"{path}/rerun", {"job_ids": [jobs[0].id]})
    assert answer.status == 409 and "disabled" in answer.data["error"]
    assert Job.get(jobs[0].id).status == JobStatus.CANCELED

    for body in ({}, {"job_ids": []}, {"job_ids": "x"}, {"all": True, "filters": {"status": "x"}}):
        answer = call("POST", f"{path}/cancel", body)
        assert answer.status == 422, body
    assert call("POST", f"{path}/explode", {"job_ids": [jobs[0].id]}).status == 404


def test_job_endpoints(call):
    fn = Function(outcome, retry_count=0)
    fn.save()
    made = dict(zip(["json", "bytes", "text", "none", "fail"],
                    fn.map(["json", "bytes", "text", "none", "fail"], tags=["t"]), strict=True))
    fn.wait_for_completion(interval=0.2, timeout=180)

    answer = call("GET", f"/api/jobs/{made['json'].id}")
    assert answer.status == 200
    data = answer.data
    assert data["status"] == "success" and data["args"] == ["json"] and data["tags"] == ["t"]
    assert data["function_name"] == "outcome" and data["live"] is False
    assert data["execution_count"] == 1 and data["statistics"]["cpu"]["time"] >= 0
    assert data["traceback"] is None

    failed = call("GET", f"/api/jobs/{made['fail'].id}").data
    assert failed["error_reason"] == "RuntimeError: it broke"
    assert failed["traceback"].startswith("Traceback (most recent call last):")
    assert failed["traceback"].endswith("RuntimeError: it broke")

    log = call("GET", f"/api/jobs/{made['fail'].id}/log").data
    assert log["lines"] == list(Job.get(made["fail"].id).iter_log())
    assert log["lines"][0].endswith("making fail") and log["next"] == len(log["lines"])
    later = call("GET", f"/api/jobs/{made['fail'].id}/log?offset=1").data
    assert later["lines"] == log["lines"][1:] and later["status"] == "failure"

    def result(kind):
        return call("GET", f"/api/jobs/{made[kind].id}/result").data

    assert result("json") == {"kind": "json", "size": 29, "truncated": False,
                              "text": '{\n  "kind": "json",\n  "n": [\n    1,\n    2\n  ]\n}'}
    assert result("text")["kind"] == "text"
    assert result("text")["text"] == "plain words, not JSON"
    assert result("bytes") == {"kind": "bytes", "size": 10, "truncated": False}
    assert result("none")["kind"] == "none"
    assert result("fail") == {"kind": "none",
                              "message": "the job is failure; only successful jobs have a result"}
    download = call("GET", f"/api/jobs/{made['bytes'].id}/result/download")
    assert download.status == 200 and download.raw == b"\x89PNG\r\n\x1a\n\x00\x01"
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert "attachment" in download.headers["Content-Disposition"]
    assert call("GET", f"/api/jobs/{made['none'].id}/result/download").status == 404

    answer = call("POST", f"/api/jobs/{made['json'].id}/rerun")
    assert answer.status == 409 and "only failure, timeout and canceled" in answer.data["error"]
    fn.stop()
    answer = call("POST", f"/api/jobs/{made['fail'].id}/rerun")
    assert answer.status == 200 and answer.data["status"] == "pending"
    assert Job.get(made["fail"].id).execution_count == 0
    answer = call("POST", f"/api/jobs/{made['fail'].id}/cancel")
    assert answer.status == 200 and answer.data["status"] == "canceled"
    assert Job.get(made["fail"].id).status == JobStatus.CANCELED

    answer = call("DELETE", f"/api/jobs/{made['json'].id}?delete_result=1")
    assert answer.status == 200 and answer.data == {"deleted": made["json"].id}
    assert fn.jobs.count() == 4
    for path in (f"/api/jobs/{made['json'].id}", f"/api/jobs/{made['json'].id}/log"):
        assert call("GET", path).status == 404
    with pytest.raises(NotFoundError):
        Job.get(made["json"].id)


def test_active_job_conflicts(call):
    fn = Function(sleeper)
    fn.save()
    job = fn(60)
    wait_until(lambda: Job.get(job.id).status == JobStatus.RUNNING, timeout=120)
    assert call("GET", f"/api/functions/{fn.id}").data["live"] is True
    answer = call("DELETE", f"/api/jobs/{job.id}")
    assert answer.status == 409 and answer.data["type"] == "ConflictError"
    answer = call("DELETE", f"/api/functions/{fn.id}")
    assert answer.status == 409
    answer = call("POST", f"/api/jobs/{job.id}/cancel")
    assert answer.status == 200 and answer.data["status"] in ("cancel", "canceling", "canceled")
    wait_until(lambda: Job.get(job.id).status == JobStatus.CANCELED, timeout=60)


def sleeper(seconds):
    import time

    time.sleep(seconds)


def test_summary_timeline_and_job_usage(call, namespace):
    fn = Function(outcome, retry_count=0, maximum_concurrency=2)
    fn.save()
    jobs = list(fn.map(["a", "fail", "b"]))
    fn.wait_for_completion(timeout=240, interval=0.2)
    data = call("GET", f"/api/functions/{fn.id}/summary").data
    summary = data["summary"]
    assert summary["started"] == summary["finished"] == 3
    assert sum(summary["runtime"]["counts"]) == 3
    assert summary["errors"] == [{"reason": Job.get(jobs[1].id).error_reason.split("\n")[0],
                                  "count": 1}]
    assert data["usage"]["jobs"] == 3 and data["usage"]["cost"] is None
    assert data["function"]["maximum_concurrency"] == 2

    bare = call("GET", f"/api/functions/{fn.id}/timeline").data
    assert bare["count"] == 3 and "ids" not in bare  # the page's: no ids
    timeline = call("GET", f"/api/functions/{fn.id}/timeline?ids=1").data
    assert timeline["count"] == 3 and not timeline["truncated"]
    assert {k: v for k, v in timeline.items() if k not in ("ids", "now")} == \
        {k: v for k, v in bare.items() if k != "now"}
    assert sorted(timeline["ids"]) == sorted(j.id for j in jobs)
    statuses = [timeline["statuses"][c] for c in timeline["status"]]
    assert statuses == [str(Job.get(i).status) for i in timeline["ids"]]
    assert all(0 <= s <= e for s, e in zip(timeline["start"], timeline["end"], strict=True))
    one = call("GET", f"/api/functions/{fn.id}/timeline?limit=1").data
    assert one["count"] == 1 and one["truncated"] is True
    # One bar by its index (what a click on the page asks for): its id and its start.
    for i in range(3):
        bar = call("GET", f"/api/functions/{fn.id}/timeline?ids=1&offset={i}&limit=1").data
        assert bar["count"] == 1 and bar["offset"] == i and bar["ids"] == [timeline["ids"][i]]
        assert bar["start"] == [0] and bar["status"] == [timeline["status"][i]]
        assert (bar["t0"] - timeline["t0"]) * 1000 == pytest.approx(timeline["start"][i], abs=0.5)
    assert call("GET", f"/api/functions/{fn.id}/timeline?offset=3").data["count"] == 0
    for bad in ("offset=-1", "ids=2", "ids=yes"):
        answer = call("GET", f"/api/functions/{fn.id}/timeline?{bad}")
        assert answer.status == 422 and bad.split("=")[0] in answer.data["errors"], bad
    answer = call("GET", f"/api/functions/{fn.id}/timeline?limit=0")
    assert answer.status == 422 and "limit" in answer.data["errors"]

    # The failure breakdown's link: the job table filtered by the error's start.
    reason = summary["errors"][0]["reason"]
    page = call("GET", f"/api/functions/{fn.id}/jobs?error={reason[:8]}").data
    assert [j["id"] for j in page["jobs"]] == [jobs[1].id]

    job = call("GET", f"/api/jobs/{jobs[0].id}").data
    done = Job.get(jobs[0].id)
    runtime = (done.last_completion_date - done.last_execution_date).total_seconds()
    assert job["usage"]["runtime_seconds"] == pytest.approx(runtime, abs=1e-5)
    assert job["usage"]["cpu_seconds"] == pytest.approx(done.statistics.cpu.time / 1e9)

    other = Function(echo, auto_start=False,
                     client=ComputeClient(auth=Auth(org="test", user="someone-else")))
    other.save()
    assert call("GET", f"/api/functions/{other.id}/summary").status == 404
    assert call("GET", f"/api/functions/{other.id}/timeline").status == 404


def test_login_token(call, ui, namespace):
    import urllib.error
    import urllib.request

    from skyrun.ui.server import UIServer

    # Without the token (no cookie, no header): 403 for the API, pages and static files.
    for path in ("/api/info", "/", "/functions/x", "/static/common.js"):
        answer = call("GET", path, headers={"Cookie": ""})
        assert answer.status == 403, path
        assert b"login token" in answer.raw
    assert call("POST", "/api/functions/x/start", headers={"Cookie": ""}).status == 403
    wrong = f"{ui.cookie_name}={ui.token[:-2]}xx"
    assert call("GET", "/api/info", headers={"Cookie": wrong}).status == 403
    assert call("GET", "/api/info", headers={"Cookie": "a=b; " + wrong[:5]}).status == 403
    # With it: the cookie, the Authorization header, or the URL parameter.
    assert call("GET", "/api/info").status == 200
    assert call("GET", "/api/info", headers={"Cookie": "",
                                             "Authorization": f"token {ui.token}"}).status == 200
    answer = call("GET", f"/api/info?token={ui.token}", headers={"Cookie": ""})
    assert answer.status == 200
    assert f"{ui.cookie_name}={ui.token}" in answer.headers["Set-Cookie"]
    assert "HttpOnly" in answer.headers["Set-Cookie"]
    # A page opened at the printed URL is sent on without the token, with the cookie set.
    opener = urllib.request.build_opener(_NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(urllib.request.Request(f"{ui.url}functions/abc?token={ui.token}&x=1"))
    assert redirect.value.code == 303
    assert redirect.value.headers["Location"] == "/functions/abc?x=1"
    assert "SameSite=Strict" in redirect.value.headers["Set-Cookie"]
    # The host check and the write header still hold with the token.
    assert call("GET", "/api/info", headers={"Host": f"evil.example:{ui.port}"}).status == 403
    # Two starts, two tokens; token=None serves without a login.
    other = UIServer(namespace, port=0)
    open_server = UIServer(namespace, port=0, token=None).start()
    try:
        assert other.token != ui.token and len(other.token) >= 40
        assert other.login_url == f"{other.url}?token={other.token}"
        with urllib.request.urlopen(open_server.url + "api/info", timeout=60) as response:
            assert response.status == 200
        assert open_server.login_url == open_server.url
    finally:
        other.server_close()
        open_server.stop()


class _NoRedirect(__import__("urllib.request").request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_protocol_errors_and_static_files(call, ui):
    assert call("GET", "/api/nothing").status == 404
    answer = call("POST", "/api/info", {})
    assert answer.status == 405 and set(answer.headers["Allow"].split(", ")) == {"GET", "HEAD"}
    assert "POST is not allowed" in answer.data["error"]
    # Changes need the monitor's header (a cross-site form cannot send it).
    answer = call("POST", "/api/functions/x/start", headers={"X-Skyrun-UI": ""})
    assert answer.status == 403 and "X-Skyrun-UI" in answer.data["error"]
    answer = call("GET", "/api/info", headers={"Host": f"evil.example:{ui.port}"})
    assert answer.status == 403

    for path, marker in (("/", b'id="functions"'), ("/functions/abc", b'id="settings"'),
                         ("/jobs/abc", b'id="log"')):
        answer = call("GET", path)
        assert answer.status == 200 and marker in answer.raw
        assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "default-src 'self'" in answer.headers["Content-Security-Policy"]
    # The chart preloads carry the id from the address, quoted: it cannot become markup.
    answer = call("GET", "/functions/%22%3E%3Cscript%3Ex")
    assert answer.status == 200 and b"<script>x" not in answer.raw
    assert b'href="/api/functions/%22%3E%3Cscript%3Ex/summary"' in answer.raw
    for name in ("common.js", "index.js", "function.js", "jobtable.js", "job.js", "app.css"):
        answer = call("GET", f"/static/{name}")
        assert answer.status == 200 and len(answer.raw) > 100, name
    assert call("GET", "/static/app.css").headers["Content-Type"].startswith("text/css")
    assert call("GET", "/static/../api.py").status == 404
    assert call("GET", "/static/nothing.js").status == 404
    assert call("GET", "/elsewhere").status == 404
    assert call("DELETE", "/").status == 405
