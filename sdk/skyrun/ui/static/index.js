// The functions list: every Function of the namespace with its job counts.
"use strict";

const COUNT_COLUMNS = [["pending", ["pending"]], ["active", ["running", "cancel", "canceling"]],
                       ["success", ["success"]], ["failure", ["failure"]],
                       ["timeout", ["timeout"]], ["canceled", ["canceled"]]];

function countCell(name, counts, statuses) {
  const n = statuses.reduce((sum, s) => sum + (counts[s] || 0), 0);
  return el("td", {class: `num count ${n ? `count-${name}` : "zero"}`, dataset: {count: name}}, n);
}

function functionRow(fn) {
  const counts = fn.job_statistics || {};
  return el("tr", {dataset: {id: fn.id}},
    el("td", {}, el("a", {class: "fn-link", href: functionUrl(fn.id)}, fn.name),
       fn.enabled ? null : el("span", {class: "tag tag-warn"}, "disabled"),
       el("div", {class: "sub mono"}, fn.id)),
    el("td", {}, badge(fn.status)),
    el("td", {class: "mono"}, fn.image),
    el("td", {class: "num"}, fn.cpus),
    el("td", {class: "num"}, fmtMemory(fn.memory)),
    el("td", {class: "num"}, fn.maximum_concurrency),
    COUNT_COLUMNS.map(([name, statuses]) => countCell(name, counts, statuses)),
    el("td", {class: "nowrap"}, fmtDate(fn.creation_date)));
}

async function refresh() {
  const data = await api("GET", "/api/functions");
  const body = document.querySelector("#functions tbody");
  if (!data.functions.length) {
    replaceChildren(body, el("tr", {}, el("td", {colspan: 13, class: "empty"},
      "No Functions yet. Create one with the SDK, or run ", el("code", {}, "skyrun demo"), ".")));
  } else {
    replaceChildren(body, data.functions.map(functionRow));
  }
  return data.live;
}

document.addEventListener("DOMContentLoaded", () => poll(refresh));
