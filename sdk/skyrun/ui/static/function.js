// The function page: status and actions, settings (edited through Function.save()),
// details, job counts and the build log. The job table is in jobtable.js.
"use strict";

const FUNCTION_ID = pageId();
const SETTINGS = ["maximum_concurrency", "cpus", "memory", "timeout", "retry_count",
                  "compute_target"];
let current = null;  // the Function as last loaded

function showFunction(fn) {
  current = fn;
  document.title = `${fn.name} · skyrun`;
  replaceChildren(document.getElementById("crumb-name"), fn.name);
  replaceChildren(document.getElementById("fn-name"), fn.name);
  replaceChildren(document.getElementById("fn-status"), badge(fn.status));
  replaceChildren(document.getElementById("fn-enabled"),
                  el("span", {class: fn.enabled ? "tag" : "tag tag-warn"},
                     fn.enabled ? "enabled" : "disabled"));
  document.getElementById("btn-start").disabled = fn.status !== "stopped";
  document.getElementById("btn-stop").disabled = fn.status !== "ready";
  document.getElementById("btn-enable").disabled = fn.enabled;
  document.getElementById("btn-disable").disabled = !fn.enabled;

  const counts = fn.job_statistics || {};
  replaceChildren(document.getElementById("counts"), STATUSES.map((s) =>
    el("button", {class: `chip status-${s} ${counts[s] ? "" : "zero"}`, dataset: {status: s},
                  title: `show ${s} jobs`, onclick: () => JobTable.filterStatus(s)},
       el("span", {class: "chip-label"}, s), el("span", {class: "chip-count"}, counts[s] || 0))));

  const env = fn.environment && Object.keys(fn.environment).length
    ? el("pre", {class: "inline-json"}, JSON.stringify(fn.environment, null, 2)) : "—";
  const rows = [["ID", el("span", {class: "mono"}, fn.id)], ["Image", fn.image],
                ["Namespace", fn.namespace], ["Owner", fn.owner],
                ["Auto start", fn.auto_start ? "yes" : "no"],
                ["CPUs / memory", `${fn.cpus} vCPU / ${fmtMemory(fn.memory)}`],
                ["Compute target", `${fn.compute_target} (AWS: ${fn.aws_target})`],
                ["Created", fmtDate(fn.creation_date)], ["Modified", fmtDate(fn.modified_date)],
                ["Environment", env]];
  replaceChildren(document.getElementById("details"),
                  rows.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

function fillSettings(fn) {
  for (const name of SETTINGS) document.getElementById(`setting-${name}`).value = fn[name];
  clearErrors();
}

function clearErrors() {
  for (const node of document.querySelectorAll(".field-error, .form-error")) node.textContent = "";
  for (const node of document.querySelectorAll("#settings input")) node.removeAttribute("aria-invalid");
}

function showErrors(err) {
  clearErrors();
  const errors = err.data.errors || {};
  const other = [];
  for (const [field, messages] of Object.entries(errors)) {
    const slot = document.getElementById(`error-${field}`);
    if (slot) {
      slot.textContent = messages.join("; ");
      document.getElementById(`setting-${field}`).setAttribute("aria-invalid", "true");
    } else {
      other.push(`${field}: ${messages.join("; ")}`);
    }
  }
  if (!Object.keys(errors).length) other.push(err.message);
  document.getElementById("error-form").textContent = other.join("\n");
}

async function saveSettings(event) {
  event.preventDefault();
  const values = {};
  for (const name of SETTINGS) values[name] = document.getElementById(`setting-${name}`).value.trim();
  const note = document.getElementById("save-note");
  note.textContent = "Saving…";
  try {
    const fn = await api("PATCH", `/api/functions/${encodeURIComponent(FUNCTION_ID)}`, values);
    showFunction(fn);
    fillSettings(fn);
    note.textContent = "Saved.";
    setTimeout(() => { if (note.textContent === "Saved.") note.textContent = ""; }, 4000);
  } catch (err) {
    note.textContent = err.status === 422 ? "Not saved: fix the marked fields." : "Not saved.";
    showErrors(err);
  }
}

async function runAction(action) {
  try {
    const fn = await api("POST", `/api/functions/${encodeURIComponent(FUNCTION_ID)}/${action}`);
    showFunction(fn);
    flash(`Function ${fn.name}: ${action} done.`);
    refreshNow();
  } catch (err) { flashError(err); }
}

async function deleteFunction() {
  const name = current ? current.name : FUNCTION_ID;
  const answer = await confirmDialog(
    `Delete Function “${name}” with all its jobs, their logs and the build log? ` +
    "This cannot be undone.",
    {confirmText: "Delete", danger: true, checkbox: "also delete the job results"});
  if (!answer.ok) return;
  try {
    await api("DELETE", `/api/functions/${encodeURIComponent(FUNCTION_ID)}` +
                        `?delete_results=${answer.checked ? 1 : 0}`);
    location.assign("/");
  } catch (err) { flashError(err); }
}

async function loadBuildLog() {
  const box = document.getElementById("build-log");
  try {
    const data = await api("GET", `/api/functions/${encodeURIComponent(FUNCTION_ID)}/build-log`);
    box.textContent = data.text || "(empty)";
  } catch (err) { box.textContent = `Could not read the build log: ${err.message}`; }
}

let settingsFilled = false;

async function refreshFunction() {
  let fn;
  try {
    fn = await api("GET", `/api/functions/${encodeURIComponent(FUNCTION_ID)}`);
  } catch (err) {
    if (err.status === 404) {
      current = null;
      replaceChildren(document.querySelector("main"), el("div", {class: "card empty"},
        `Function ${FUNCTION_ID} was not found (it may have been deleted). `,
        el("a", {href: "/"}, "Back to the functions list")));
      return false;
    }
    throw err;
  }
  showFunction(fn);
  if (!settingsFilled) { fillSettings(fn); settingsFilled = true; }
  const logBox = document.getElementById("build-log-box");
  if (logBox.open && ["awaiting_bundle", "building"].includes(fn.status)) loadBuildLog();
  return fn.live;
}

let refreshNow = () => {};

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("settings").addEventListener("submit", saveSettings);
  document.getElementById("btn-reset").addEventListener("click", () => current && fillSettings(current));
  for (const button of document.querySelectorAll("[data-action]")) {
    button.addEventListener("click", () => runAction(button.dataset.action));
  }
  document.getElementById("btn-delete").addEventListener("click", deleteFunction);
  document.getElementById("build-log-box").addEventListener("toggle", (event) => {
    if (event.target.open) loadBuildLog();
  });
  JobTable.init(FUNCTION_ID, () => refreshNow());
  Charts.init(FUNCTION_ID);
  refreshNow = poll(async () => {
    // The charts load beside the rest: at 100,000 jobs they take the longest.
    const charts = Charts.refresh();
    const live = await refreshFunction();
    if (current) await JobTable.refresh();
    await charts;
    // Follow the stream once the page has loaded (at 100,000 jobs the first load keeps
    // the server busy; the stream's first event then only confirms what is shown).
    if (!following && current) { following = true; followFunction(); }
    return live;
  }, true);
});

let following = false;

// The server pushes the Function (status, job counts) whenever it changes; the job
// table and the charts follow (the charts at most every 10 s, see charts.js).
let tableQueued = false;
function followFunction() {
  const source = listen(`/api/functions/${encodeURIComponent(FUNCTION_ID)}/events`, {
    function: (fn) => {
      const before = current ? JSON.stringify(current.job_statistics) : null;
      showFunction(fn);
      setLive(fn.live, true);
      // The first event of a page still loading brings nothing new to the table.
      if (before !== null && before !== JSON.stringify(fn.job_statistics) && !tableQueued) {
        tableQueued = true;
        setTimeout(() => { tableQueued = false; JobTable.refresh().catch(showOffline); }, 300);
        Charts.refresh();
      }
    },
    gone: () => { source.close(); refreshNow(); },
  });
}
