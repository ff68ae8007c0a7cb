"""The monitor in a real browser (Debian's chromium, driven by Playwright): what a person
sees and does on the three pages, checked against the SDK."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from skyrun.compute import Function, Job, JobStatus
from skyrun.exceptions import NotFoundError
from tests.conftest import wait_until


def echo(x):
    return x


def noisy(n):
    for i in range(n):
        print(f"line {i} <b>not bold</b>")
    raise ValueError("gave up after the lines")


def test_list_edit_and_validation(page, ui):
    fn = Function(echo, auto_start=False)
    fn.save()
    fn.map([1, 2, 3])

    page.goto(ui.url)
    row = page.locator(f'#functions tr[data-id="{fn.id}"]')
    expect(row.locator("a.fn-link")).to_have_text("echo")
    expect(row.locator('td[data-count="pending"]')).to_have_text("3")
    expect(row.locator('td[data-count="success"]')).to_have_text("0")
    expect(row).to_contain_text("stopped")
    expect(row).to_contain_text(fn.image)

    row.locator("a.fn-link").click()
    expect(page).to_have_url(re.compile(f"/functions/{fn.id}$"))
    expect(page.locator("#fn-name")).to_have_text("echo")
    expect(page.locator("#setting-maximum_concurrency")).to_have_value("10")
    expect(page.locator("#jobs tbody tr")).to_have_count(3)

    page.fill("#setting-maximum_concurrency", "3")
    page.click("#btn-save")
    expect(page.locator("#save-note")).to_have_text("Saved.")
    assert Function.get(fn.id).maximum_concurrency == 3

    before = Function.get(fn.id).to_dict()
    page.fill("#setting-cpus", "3")
    page.click("#btn-save")
    expect(page.locator("#error-cpus")).to_have_text(
        "3 is not an allowed value; allowed: 0.25, 0.5, 1, 2, 4, 8, 16")
    expect(page.locator("#setting-cpus")).to_have_attribute("aria-invalid", "true")
    page.fill("#setting-cpus", "1")
    page.fill("#setting-memory", "100TB")
    page.click("#btn-save")
    expect(page.locator("#error-memory")).to_contain_text(
        "Unable to convert memory to megabytes: 100TB")
    expect(page.locator("#error-cpus")).to_have_text("")
    assert Function.get(fn.id).to_dict() == before  # nothing stored

    page.click("#btn-reset")
    expect(page.locator("#setting-memory")).to_have_value("2048")
    page.fill("#setting-memory", "4GB")
    page.click("#btn-save")
    expect(page.locator("#save-note")).to_have_text("Saved.")
    expect(page.locator("#setting-memory")).to_have_value("4096")
    assert Function.get(fn.id).memory == 4096

    # compute_target: 'lambda' is refused while the timeout is past Lambda's 900 s.
    page.select_option("#setting-compute_target", "lambda")
    page.click("#btn-save")
    expect(page.locator("#error-compute_target")).to_contain_text(
        "timeout=3600 seconds is more than Lambda's limit of 900 seconds")
    page.fill("#setting-timeout", "600")
    page.click("#btn-save")
    expect(page.locator("#save-note")).to_have_text("Saved.")
    expect(page.locator("#details")).to_contain_text("lambda (AWS: lambda)")
    assert (Function.get(fn.id).compute_target, Function.get(fn.id).timeout) == ("lambda", 600)

    page.click("#btn-start")
    expect(page.locator("#fn-status")).to_have_text("ready")
    assert Function.get(fn.id).status == "ready"
    page.click("#btn-disable")
    expect(page.locator("#fn-enabled")).to_have_text("disabled")
    assert Function.get(fn.id).enabled is False


def test_cancel_bulk_rerun_and_delete(page, ui):
    fn = Function(echo, auto_start=False)
    fn.save()
    jobs = list(fn.map([1, 2, 3, 4]))
    by_sdk, by_ui = jobs[0], jobs[1]

    page.goto(f"{ui.url}functions/{fn.id}")
    expect(page.locator("#jobs tbody tr")).to_have_count(4)
    page.check(f'#jobs input.select-job[data-id="{by_ui.id}"]')
    expect(page.locator("#selected-count")).to_have_text("1 selected")
    page.click("#bulk-cancel")
    expect(page.locator(f'#jobs tr[data-id="{by_ui.id}"]')).to_have_attribute(
        "data-status", "canceled")
    by_sdk.cancel()
    ui_record, sdk_record = Job.get(by_ui.id).to_dict(), Job.get(by_sdk.id).to_dict()
    for record in (ui_record, sdk_record):
        del record["id"], record["args"], record["creation_date"], record["last_completion_date"]
    assert ui_record == sdk_record and ui_record["status"] == "canceled"

    # The status filter, then rerun of everything matching it.
    page.select_option("#filter-status", "canceled")
    expect(page.locator("#jobs tbody tr")).to_have_count(2)
    expect(page.locator("#jobs-total")).to_have_text("2 matching")
    page.click("#all-rerun")
    page.click("#confirm-ok")
    expect(page.locator("#jobs tbody td.empty")).to_have_text("No jobs match these filters.")
    assert [j.status for j in (Job.get(by_ui.id), Job.get(by_sdk.id))] == ["pending"] * 2
    page.click("#filter-clear")
    expect(page.locator("#jobs tbody tr")).to_have_count(4)

    # Select the page, cancel, then rerun the selection.
    page.check("#select-page")
    expect(page.locator("#selected-count")).to_have_text("4 selected")
    page.click("#bulk-cancel")
    expect(page.locator('#jobs tr[data-status="canceled"]')).to_have_count(4)
    assert {j.status for j in fn.jobs} == {JobStatus.CANCELED}
    page.check(f'#jobs input.select-job[data-id="{jobs[2].id}"]')
    page.check(f'#jobs input.select-job[data-id="{jobs[3].id}"]')
    page.click("#bulk-rerun")
    expect(page.locator('#jobs tr[data-status="pending"]')).to_have_count(2)
    assert {Job.get(j.id).status for j in jobs[2:]} == {JobStatus.PENDING}

    # Delete one job, then the Function, each after a confirmation.
    page.check(f'#jobs input.select-job[data-id="{jobs[0].id}"]')
    page.click("#bulk-delete")
    page.click("#confirm-cancel")
    assert Job.get(jobs[0].id)
    page.click("#bulk-delete")
    page.click("#confirm-ok")
    expect(page.locator("#jobs tbody tr")).to_have_count(3)
    with pytest.raises(NotFoundError):
        Job.get(jobs[0].id)

    page.click("#btn-delete")
    expect(page.locator("#confirm-message")).to_contain_text("Delete Function")
    page.click("#confirm-ok")
    expect(page).to_have_url(ui.url)
    expect(page.locator("#functions td.empty")).to_contain_text("No Functions yet")
    with pytest.raises(NotFoundError):
        Function.get(fn.id)


def test_job_page_log_traceback_and_escaping(page, ui):
    fn = Function(noisy, name="<img src=x onerror=alert(1)>")
    fn.save()
    job = fn(3, tags=["<script>window.hacked=1</script>"])
    wait_until(lambda: Job.get(job.id).status == JobStatus.FAILURE, timeout=120)

    page.goto(f"{ui.url}functions/{fn.id}")
    expect(page.locator("#fn-name")).to_have_text("<img src=x onerror=alert(1)>")
    assert page.locator("main img").count() == 0
    page.click(f'#jobs a.job-link:text("{job.id}")')
    expect(page).to_have_url(re.compile(f"/jobs/{job.id}$"))
    expect(page.locator("#job-status")).to_have_text("failure")
    expect(page.locator("#error-reason")).to_have_text("ValueError: gave up after the lines")
    expect(page.locator("#traceback")).to_contain_text("Traceback (most recent call last):")
    expect(page.locator("#log")).to_contain_text("line 2 <b>not bold</b>")
    assert page.locator("#log").inner_text() == Job.get(job.id).log()
    assert page.locator("#log b").count() == 0
    expect(page.locator("#inputs")).to_contain_text("<script>window.hacked=1</script>")
    assert page.evaluate("window.hacked") is None
    expect(page.locator("#run")).to_contain_text("Attempts")
    expect(page.locator("#result")).to_contain_text("only successful jobs have a result")

    fn.stop()
    page.click("#btn-rerun")
    expect(page.locator("#job-status")).to_have_text("pending")
    page.click("#btn-cancel")
    expect(page.locator("#job-status")).to_have_text("canceled")
    page.click("#btn-delete")
    page.click("#confirm-ok")
    expect(page).to_have_url(re.compile(f"/functions/{fn.id}$"))
    with pytest.raises(NotFoundError):
        Job.get(job.id)


def test_live_log_and_result(page, ui):
    fn = Function(counter)
    fn.save()
    job = fn(3)
    page.goto(f"{ui.url}jobs/{job.id}")
    # The page follows the job while it runs, without a reload.
    expect(page.locator("#job-status")).to_have_text("success", timeout=120_000)
    expect(page.locator("#log")).to_contain_text("tick 2")
    expect(page.locator("#result-preview")).to_have_text('{\n  "ticks": 3\n}')
    expect(page.locator("#result-download")).to_have_attribute(
        "href", f"/api/jobs/{job.id}/result/download")


def counter(n):
    import time

    for i in range(n):
        print(f"tick {i}", flush=True)
        time.sleep(0.3)
    return {"ticks": n}

