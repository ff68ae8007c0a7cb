// Shared helpers of the skyrun monitor pages.
// Every value from the server is put into the page as text (textContent, attribute
// values), never as markup, so names, arguments and logs cannot inject HTML.
"use strict";

const STATUSES = ["pending", "running", "cancel", "canceling", "success", "failure",
                  "timeout", "canceled"];
const LIVE_STATUSES = ["pending", "running", "cancel", "canceling"];
const FAST_POLL_MS = 2000;   // while jobs are queued or running
const SLOW_POLL_MS = 10000;  // otherwise, to notice jobs submitted elsewhere

class ApiError extends Error {
  constructor(status, data) {
    super((data && data.error) || `HTTP ${status}`);
    this.status = status;
    this.data = data || {};
  }
}

// Call the JSON API; resolves to the payload, rejects with an ApiError.
async function api(method, path, body) {
  const options = {method, headers: {"Accept": "application/json"}};
  if (method !== "GET") {
    options.headers["X-Skyrun-UI"] = "1";
    options.headers["Content-Type"] = "application/json";
    if (body !== undefined) options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (err) {
    throw new ApiError(0, {error: "the monitor server is not reachable (was it stopped?)"});
  }
  let data = null;
  try { data = await response.json(); } catch (err) { data = null; }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// Build an element: el("a", {href: url, class: "x", onclick: f}, "text", child, ...).
function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function replaceChildren(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

function pad(n) { return String(n).padStart(2, "0"); }

// An ISO datetime shown in local time: "2024-05-01 14:03:07".
function fmtDate(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (isNaN(d)) return String(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
         `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function fmtSeconds(s) {
  if (s === null || s === undefined) return "—";
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function fmtBytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

function fmtMemory(mb) { return mb >= 1024 && mb % 1024 === 0 ? `${mb / 1024} GB` : `${mb} MB`; }

function dash(value) { return value === null || value === undefined || value === "" ? "—" : value; }

function badge(status) { return el("span", {class: `badge status-${status}`}, status); }

// A short message at the top of the page; errors stay until dismissed.
function flash(message, kind = "info") {
  const box = document.getElementById("flash");
  const item = el("div", {class: `flash flash-${kind}`, role: kind === "error" ? "alert" : "status"},
                  el("span", {}, message),
                  el("button", {class: "flash-close", title: "Dismiss", "aria-label": "Dismiss",
                                onclick: () => item.remove()}, "×"));
  box.append(item);
  if (kind !== "error") setTimeout(() => item.remove(), 5000);
}

function flashError(err) { flash(err.message || String(err), "error"); }

// Fill the header with the backend and namespace.
async function loadHeader() {
  try {
    const info = await api("GET", "/api/info");
    replaceChildren(document.getElementById("whoami"),
                    el("span", {class: "muted"}, "namespace "), el("strong", {}, info.namespace),
                    el("span", {class: "muted"}, " · backend "), el("strong", {}, info.backend));
  } catch (err) { /* the page itself reports the failure */ }
}

// Run refresh() now and again after each run: every 2 s while it reports live work,
// else every 10 s. A page whose live changes are pushed by the server (``pushed``, see
// listen()) only refreshes every 10 s, to catch what no stream reports. Returns a
// function that triggers a refresh at once.
function poll(refresh, pushed = false) {
  let timer = null;
  let running = false;
  let again = false;  // asked for while running: run once more right after
  async function tick() {
    clearTimeout(timer);
    if (running) { again = true; return; }
    running = true;
    let live = false;
    try {
      live = await refresh();
    } catch (err) {
      showOffline(err);
    } finally {
      running = false;
    }
    if (again) { again = false; tick(); return; }
    timer = setTimeout(tick, live && !pushed ? FAST_POLL_MS : SLOW_POLL_MS);
    setLive(live, pushed);
  }
  tick();
  return tick;
}

function setLive(live, pushed = false) {
  const node = document.getElementById("live");
  if (!node) return;
  node.className = live ? "live on" : "live";
  node.textContent = !live ? "refreshing every 10 s"
    : pushed ? "● live: changes shown as they happen" : "● live: refreshing every 2 s";
}

// Follow a server-sent event stream: handlers maps event names to functions of the
// parsed JSON data. The browser reconnects by itself after a network error; counts of
// the events received are kept in window.skyrunLive (for the browser tests). Returns the
// EventSource (close() it to stop).
const skyrunLive = {events: {}, opened: 0};
window.skyrunLive = skyrunLive;
function listen(url, handlers) {
  const source = new EventSource(url);
  source.addEventListener("open", () => { skyrunLive.opened++; });
  for (const [name, handler] of Object.entries(handlers)) {
    source.addEventListener(name, (message) => {
      skyrunLive.events[name] = (skyrunLive.events[name] || 0) + 1;
      handler(JSON.parse(message.data));
    });
  }
  return source;
}

let offlineShown = false;
function showOffline(err) {
  if (offlineShown) return;
  offlineShown = true;
  flashError(err);
  setTimeout(() => { offlineShown = false; }, 10000);
}

// The last path segment of the page URL (a Function or Job id).
function pageId() {
  return decodeURIComponent(location.pathname.replace(/\/+$/, "").split("/").pop());
}

function functionUrl(id) { return `/functions/${encodeURIComponent(id)}`; }
function jobUrl(id) { return `/jobs/${encodeURIComponent(id)}`; }

document.addEventListener("DOMContentLoaded", loadHeader);

// A modal confirmation; resolves to {ok, checked} (checked: the optional checkbox).
function confirmDialog(message, {confirmText = "OK", danger = false, checkbox = null} = {}) {
  return new Promise((resolve) => {
    const box = checkbox ? el("input", {type: "checkbox", id: "confirm-check"}) : null;
    const ok = el("button", {id: "confirm-ok", class: danger ? "danger" : "primary", value: "ok"},
                  confirmText);
    const cancel = el("button", {id: "confirm-cancel", value: "cancel"}, "Cancel");
    const dialog = el("dialog", {class: "confirm", id: "confirm"},
      el("form", {method: "dialog"},
        el("p", {id: "confirm-message"}, message),
        box ? el("label", {class: "check"}, box, " ", checkbox) : null,
        el("div", {class: "form-buttons"}, ok, cancel)));
    dialog.addEventListener("close", () => {
      resolve({ok: dialog.returnValue === "ok", checked: box ? box.checked : false});
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}
