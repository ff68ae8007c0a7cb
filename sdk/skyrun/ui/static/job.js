// The job page: status, inputs, timings, statistics, traceback, the log (followed while
// the job runs) and the result; cancel, rerun and delete.
"use strict";

const JOB_ID = pageId();
let job = null;
let logNext = 0;       // how many log lines are shown
let resultFor = null;  // the (status, completion) the result was loaded for

function jsonBlock(value) {
  if (value === null || value === undefined) return el("span", {class: "muted"}, "none");
  const compact = JSON.stringify(value);
  return el("pre", {class: "inline-json"}, compact.length <= 80 ? compact : JSON.stringify(value, null, 2));
}

function showJob(data) {
  job = data;
  document.title = `Job ${data.id} · skyrun`;
  replaceChildren(document.getElementById("job-id"), data.id);
  replaceChildren(document.getElementById("crumb-job"), data.id);
  const crumb = document.getElementById("crumb-function");
  crumb.href = functionUrl(data.function_id);
  crumb.textContent = data.function_name || data.function_id;
  replaceChildren(document.getElementById("job-status"), badge(data.status));
  document.getElementById("btn-cancel").disabled = !LIVE_STATUSES.includes(data.status);
  document.getElementById("btn-rerun").disabled = !["failure", "timeout", "canceled"].includes(data.status);
  document.getElementById("btn-delete").disabled = ["running", "cancel", "canceling"].includes(data.status);

  const reason = document.getElementById("error-reason");
  reason.hidden = !data.error_reason;
  reason.textContent = data.error_reason || "";
  const tbCard = document.getElementById("traceback-card");
  tbCard.hidden = !data.traceback;
  document.getElementById("traceback").textContent = data.traceback || "";

  const run = [["Status", badge(data.status)], ["Attempts", dash(data.execution_count)],
               ["Exit code", dash(data.exit_code)], ["Error reason", dash(data.error_reason)],
               ["Created", fmtDate(data.creation_date)],
               ["Last started", fmtDate(data.last_execution_date)],
               ["Last ended", fmtDate(data.last_completion_date)],
               ["Runtime", fmtSeconds(data.runtime)],
               ["Provisioning", fmtSeconds(data.provisioning_time)],
               ["Code loading", fmtSeconds(data.pull_time)],
               ["Function", el("a", {href: functionUrl(data.function_id)},
                               data.function_name || data.function_id)]];
  replaceChildren(document.getElementById("run"),
                  run.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  const inputs = [["args", jsonBlock(data.args)], ["kwargs", jsonBlock(data.kwargs)],
                  ["environment", jsonBlock(data.environment)],
                  ["tags", (data.tags || []).length
                    ? data.tags.map((t) => el("span", {class: "tag"}, t)) : "—"]];
  replaceChildren(document.getElementById("inputs"),
                  inputs.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  showStatistics(data.statistics);
  showUsage(data.usage);
}

// What the last attempt used, and on AWS what it cost (see Function.usage()).
function showUsage(u) {
  const box = document.getElementById("usage");
  if (!u) { replaceChildren(box, el("dd", {class: "muted"}, "when the job has finished")); return; }
  const rows = [["Runtime", `${u.runtime_seconds.toFixed(3)} s`],
                ["CPU time", `${u.cpu_seconds.toFixed(3)} CPU-seconds`],
                ["Peak memory", fmtBytes(u.peak_memory_bytes)]];
  if (u.vcpu_seconds !== null) {
    rows.push(["vCPU-seconds", u.vcpu_seconds.toFixed(2)], ["GB-seconds", u.gb_seconds.toFixed(2)]);
  }
  if (u.cost) {
    rows.push(["Estimated cost", `$${u.cost.usd.toFixed(8)} (${u.cost.compute_target}, ` +
                                 `${u.cost.rates_region} rates of ${u.cost.rates_date})`]);
  } else {
    rows.push(["Cost", "not priced on the embedded backend"]);
  }
  replaceChildren(box, rows.map(([k, v]) => [el("dt", {}, k), el("dd", {dataset: {key: k}}, v)]));
}

function showStatistics(stats) {
  const box = document.getElementById("statistics");
  if (!stats) { replaceChildren(box, el("dd", {class: "muted"}, "not measured yet")); return; }
  const cpu = stats.cpu || {}, mem = stats.memory || {}, net = stats.network || {};
  const rows = [["CPU time", `${((cpu.time || 0) / 1e9).toFixed(2)} s`],
                ["CPU use", `${(cpu.total || 0).toFixed(1)} % of the cpus`],
                ["Peak memory", `${fmtBytes(mem.peak_bytes || 0)} (${(mem.peak_percentage || 0).toFixed(1)} %)`],
                ["Average memory", `${fmtBytes(mem.total_bytes || 0)} (${(mem.total_percentage || 0).toFixed(1)} %)`],
                ["Network", `rx ${fmtBytes(net.rx_bytes || 0)} · tx ${fmtBytes(net.tx_bytes || 0)}`]];
  replaceChildren(box, rows.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

async function loadLog() {
  const data = await api("GET", `/api/jobs/${encodeURIComponent(JOB_ID)}/log?offset=${logNext}`);
  if (data.next < logNext) { logNext = 0; return loadLog(); }
  showLog(data);
}

// While the job is live the server pushes its new log lines (and its status).
let logSource = null;
let logComplete = false;  // the stream sent every line of the finished job
function followLog() {
  if (logSource) return;
  logComplete = false;
  const stop = () => { if (logSource) logSource.close(); logSource = null; refreshNow(); };
  logSource = listen(`/api/jobs/${encodeURIComponent(JOB_ID)}/log/events?offset=${logNext}`, {
    log: (data) => {
      if (data.reset) logNext = 0;
      showLog(data);
      if (job && data.status !== job.status) refreshNow();
    },
    end: () => { logComplete = true; stop(); },
    gone: stop,
  });
  // After a broken connection, follow again from the lines shown (not the first offset).
  logSource.onerror = () => { logSource.close(); logSource = null; setTimeout(refreshNow, 1000); };
}

function showLog(data) {
  const pre = document.getElementById("log");
  if (logNext === 0) pre.textContent = "";
  if (data.lines.length) {
    pre.append(document.createTextNode((logNext ? "\n" : "") + data.lines.join("\n")));
    logNext = data.next;
    if (document.getElementById("follow").checked) pre.scrollTop = pre.scrollHeight;
  }
  if (!logNext) pre.textContent = data.live ? "(no output yet)" : "(empty)";
  document.getElementById("log-lines").textContent = `${logNext} line${logNext === 1 ? "" : "s"}`;
}

async function loadResult() {
  const key = `${job.status} ${job.last_completion_date}`;
  if (resultFor === key) return;
  resultFor = key;
  const box = document.getElementById("result");
  let data;
  try {
    data = await api("GET", `/api/jobs/${encodeURIComponent(JOB_ID)}/result`);
  } catch (err) { replaceChildren(box, el("span", {class: "error-text"}, err.message)); return; }
  const download = el("a", {class: "button", id: "result-download",
                            href: `/api/jobs/${encodeURIComponent(JOB_ID)}/result/download`},
                      "Download");
  if (data.kind === "none") {
    replaceChildren(box, el("span", {class: "muted"}, data.message));
  } else if (data.kind === "bytes") {
    replaceChildren(box, el("p", {}, `Binary data, ${fmtBytes(data.size)}. `), download);
  } else {
    replaceChildren(box,
      el("p", {class: "muted"}, `${data.kind === "json" ? "JSON" : "Text"}, ${fmtBytes(data.size)}` +
         (data.truncated ? " (preview of the start)" : ""), " ", download),
      el("pre", {id: "result-preview", class: "inline-json"}, data.text));
  }
}

async function refresh() {
  let data;
  try {
    data = await api("GET", `/api/jobs/${encodeURIComponent(JOB_ID)}`);
  } catch (err) {
    if (err.status === 404) {
      replaceChildren(document.querySelector("main"), el("div", {class: "card empty"},
        `Job ${JOB_ID} was not found (it may have been deleted). `,
        el("a", {href: "/"}, "Back to the functions list")));
      return false;
    }
    throw err;
  }
  showJob(data);
  if (data.live) followLog();
  else if (!logSource && !logComplete) await loadLog();
  await loadResult();
  return data.live;
}

let refreshNow = () => {};

async function act(action) {
  try {
    const data = await api("POST", `/api/jobs/${encodeURIComponent(JOB_ID)}/${action}`);
    showJob(data);
    flash(action === "cancel" ? `Job ${data.status === "canceled" ? "canceled" : "is being canceled"}.`
                              : "Job requeued.");
  } catch (err) { flashError(err); }
  refreshNow();
}

async function deleteJob() {
  const answer = await confirmDialog(`Delete job ${JOB_ID} and its log?`,
    {confirmText: "Delete", danger: true, checkbox: "also delete its result"});
  if (!answer.ok) return;
  try {
    await api("DELETE", `/api/jobs/${encodeURIComponent(JOB_ID)}?delete_result=${answer.checked ? 1 : 0}`);
    location.assign(job ? functionUrl(job.function_id) : "/");
  } catch (err) { flashError(err); }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("btn-cancel").addEventListener("click", () => act("cancel"));
  document.getElementById("btn-rerun").addEventListener("click", () => act("rerun"));
  document.getElementById("btn-delete").addEventListener("click", deleteJob);
  refreshNow = poll(refresh, true);
});
