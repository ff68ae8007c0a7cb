// The job table of the function page: filters, sorting, paging, selection, and bulk
// cancel, rerun and delete of the selected jobs or of every matching job.
"use strict";

const JobTable = (() => {
  let functionId = null;
  let onChange = () => {};
  const FILTERS = ["status", "tag", "error", "created_from", "created_to"];
  const state = {status: "", tag: "", error: "", created_from: "", created_to: "",
                 sort: "-creation_date", offset: 0, limit: 50};
  const selected = new Set();   // job ids, kept across refreshes and pages
  let total = 0;
  let shownIds = [];

  const $ = (id) => document.getElementById(id);

  function query() {
    const params = new URLSearchParams();
    for (const key of [...FILTERS, "sort"]) {
      if (state[key]) params.set(key, state[key]);
    }
    params.set("offset", state.offset);
    params.set("limit", state.limit);
    return params.toString();
  }

  function filters() {
    const out = {};
    for (const key of FILTERS) {
      if (state[key]) out[key] = state[key];
    }
    return out;
  }

  function row(job) {
    const box = el("input", {type: "checkbox", class: "select-job", checked: selected.has(job.id),
                             "aria-label": `select job ${job.id}`, dataset: {id: job.id}});
    box.addEventListener("change", () => {
      if (box.checked) selected.add(job.id); else selected.delete(job.id);
      updateSelection();
    });
    return el("tr", {dataset: {id: job.id, status: job.status}},
      el("td", {class: "check"}, box),
      el("td", {class: "mono"}, el("a", {class: "job-link", href: jobUrl(job.id)}, job.id)),
      el("td", {}, badge(job.status)),
      el("td", {class: "num"}, dash(job.execution_count)),
      el("td", {class: "num"}, dash(job.exit_code)),
      el("td", {class: "num"}, job.runtime === null ? "—" : fmtSeconds(job.runtime)),
      el("td", {class: "nowrap"}, fmtDate(job.creation_date)),
      el("td", {class: "nowrap"}, fmtDate(job.last_completion_date)),
      el("td", {class: "mono clip", title: job.args}, job.args,
         job.kwargs && job.kwargs !== "{}" && job.kwargs !== "null"
           ? el("span", {class: "muted"}, ` ${job.kwargs}`) : null),
      el("td", {}, (job.tags || []).map((t) => el("span", {class: "tag"}, t))),
      el("td", {class: "clip error-text", title: job.error_reason || ""}, job.error_reason || ""));
  }

  function updateSelection() {
    const n = selected.size;
    $("selected-count").textContent = `${n} selected`;
    for (const id of ["bulk-cancel", "bulk-rerun", "bulk-delete"]) $(id).disabled = n === 0;
    const onPage = shownIds.filter((id) => selected.has(id)).length;
    const all = $("select-page");
    all.checked = shownIds.length > 0 && onPage === shownIds.length;
    all.indeterminate = onPage > 0 && onPage < shownIds.length;
  }

  function updateSortHeaders() {
    const key = state.sort.replace(/^-/, "");
    for (const th of document.querySelectorAll("#jobs th[data-sort]")) {
      const active = th.dataset.sort === key;
      th.classList.toggle("sorted", active);
      th.setAttribute("aria-sort", active ? (state.sort.startsWith("-") ? "descending" : "ascending") : "none");
      th.dataset.arrow = active ? (state.sort.startsWith("-") ? "▼" : "▲") : "";
    }
  }

  async function refresh() {
    const data = await api("GET", `/api/functions/${encodeURIComponent(functionId)}/jobs?${query()}`);
    total = data.total;
    if (data.jobs.length === 0 && state.offset > 0 && total > 0) {
      // The page emptied (jobs deleted elsewhere): go back to the last page.
      state.offset = Math.max(0, Math.floor((total - 1) / state.limit) * state.limit);
      return refresh();
    }
    shownIds = data.jobs.map((j) => j.id);
    const body = document.querySelector("#jobs tbody");
    if (!data.jobs.length) {
      const filtered = Object.keys(filters()).length;
      replaceChildren(body, el("tr", {}, el("td", {colspan: 11, class: "empty"},
        filtered ? "No jobs match these filters." : "No jobs yet.")));
    } else {
      replaceChildren(body, data.jobs.map(row));
    }
    const first = total ? state.offset + 1 : 0;
    const last = state.offset + data.jobs.length;
    $("page-info").textContent = `${first}–${last} of ${total}`;
    $("jobs-total").textContent = `${total} matching`;
    $("page-prev").disabled = state.offset === 0;
    $("page-next").disabled = last >= total;
    $("all-cancel").disabled = total === 0;
    $("all-rerun").disabled = total === 0;
    updateSortHeaders();
    updateSelection();
  }

  async function bulk(action, all) {
    const path = `/api/functions/${encodeURIComponent(functionId)}/jobs/${action}`;
    let body;
    if (all) {
      const answer = await confirmDialog(
        `${action[0].toUpperCase()}${action.slice(1)} all ${total} matching jobs?` +
        (action === "rerun" ? " Only failed, timed-out and canceled jobs are rerun." : "") +
        (action === "cancel" ? " Jobs that already ended are unchanged." : ""),
        {confirmText: `${action[0].toUpperCase()}${action.slice(1)} all`, danger: action !== "rerun"});
      if (!answer.ok) return;
      body = {all: true, filters: filters()};
    } else {
      body = {job_ids: [...selected]};
      if (action === "delete") {
        const answer = await confirmDialog(
          `Delete ${selected.size} selected jobs with their logs? Running jobs are skipped.`,
          {confirmText: "Delete", danger: true, checkbox: "also delete their results"});
        if (!answer.ok) return;
        body.delete_results = answer.checked;
      }
    }
    try {
      const result = await api("POST", path, body);
      const verb = {cancel: "Canceled", rerun: "Requeued", delete: "Deleted"}[action];
      flash(`${verb} ${result.count} job${result.count === 1 ? "" : "s"}.`);
      if (action === "delete") for (const id of result.ids) selected.delete(id);
      if (!all) selected.clear();
    } catch (err) { flashError(err); }
    onChange();
  }

  function applyFilters(event) {
    if (event) event.preventDefault();
    state.status = $("filter-status").value;
    state.tag = $("filter-tag").value.trim();
    state.error = $("filter-error").value;
    state.created_from = $("filter-from").value;
    state.created_to = $("filter-to").value;
    state.offset = 0;
    selected.clear();
    onChange();
  }

  function init(id, changed) {
    functionId = id;
    onChange = changed;
    const select = $("filter-status");
    for (const s of STATUSES) select.append(el("option", {value: s}, s));
    // Filters given in the page's URL (the failure breakdown links here with ?error=).
    const given = new URLSearchParams(location.search);
    const inputs = {status: "filter-status", tag: "filter-tag", error: "filter-error",
                    created_from: "filter-from", created_to: "filter-to"};
    for (const [key, id] of Object.entries(inputs)) {
      if (given.get(key)) { state[key] = given.get(key); $(id).value = given.get(key); }
    }
    $("filters").addEventListener("submit", applyFilters);
    select.addEventListener("change", () => applyFilters());
    $("filter-clear").addEventListener("click", () => {
      $("filters").reset();
      applyFilters();
    });
    for (const th of document.querySelectorAll("#jobs th[data-sort]")) {
      th.tabIndex = 0;
      const sortBy = () => {
        const key = th.dataset.sort;
        state.sort = state.sort === `-${key}` ? key : `-${key}`;
        state.offset = 0;
        onChange();
      };
      th.addEventListener("click", sortBy);
      th.addEventListener("keydown", (e) => { if (e.key === "Enter") sortBy(); });
    }
    $("select-page").addEventListener("change", (event) => {
      for (const jid of shownIds) {
        if (event.target.checked) selected.add(jid); else selected.delete(jid);
      }
      for (const box of document.querySelectorAll("#jobs .select-job")) box.checked = event.target.checked;
      updateSelection();
    });
    for (const button of document.querySelectorAll("[data-bulk]")) {
      button.addEventListener("click", () => bulk(button.dataset.bulk, false));
    }
    for (const button of document.querySelectorAll("[data-all]")) {
      button.addEventListener("click", () => bulk(button.dataset.all, true));
    }
    $("page-prev").addEventListener("click", () => {
      state.offset = Math.max(0, state.offset - state.limit);
      onChange();
    });
    $("page-next").addEventListener("click", () => {
      state.offset += state.limit;
      onChange();
    });
    $("page-size").addEventListener("change", (event) => {
      state.limit = Number(event.target.value);
      state.offset = 0;
      onChange();
    });
  }

  function filterStatus(status) {
    $("filter-status").value = state.status === status ? "" : status;
    applyFilters();
  }

  return {init, refresh, filterStatus};
})();
