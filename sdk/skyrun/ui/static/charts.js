// The function page's charts, drawn with uPlot (vendored, see vendor/uplot/README.md):
// a timeline of every job, progress over time, runtime / memory / CPU histograms, the
// failure breakdown and the usage box. The server aggregates (GET .../summary) and sends
// the timeline in compact columns (GET .../timeline), so 100,000 jobs stay quick.
// window.skyrunCharts exposes what each chart drew, for the browser tests.
"use strict";

const Charts = (() => {
  const COLORS = {pending: "#9ca3af", running: "#2563eb", cancel: "#d97706",
                  canceling: "#d97706", success: "#16a34a", failure: "#dc2626",
                  timeout: "#9333ea", canceled: "#a16207"};
  const REFRESH_MS = 10000;   // charts refresh at most this often
  const state = {functionId: null, loaded: 0, loading: false, zoomed: false, plots: {},
                 every: REFRESH_MS};
  const exposed = {};
  window.skyrunCharts = exposed;  // what each chart drew, and pack (for the tests)
  const $ = (id) => document.getElementById(id);

  function fmtInterval(s) { return s < 1 ? `${s * 1000} ms` : fmtSeconds(s); }

  function width(node) { return Math.max(300, node.clientWidth - 4); }

  function replacePlot(name, opts, data, node) {
    if (state.plots[name]) state.plots[name].destroy();
    node.replaceChildren();
    const plot = new uPlot(opts, data, node);
    state.plots[name] = plot;
    return plot;
  }

  // -- the timeline -------------------------------------------------------------------
  function timelineUrl(query = "") {
    return `/api/functions/${encodeURIComponent(state.functionId)}/timeline${query}`;
  }

  // The job id of bar i. The timeline comes without ids (most of its bytes at 100,000
  // jobs), so this asks for the one bar at its index and checks that it is the same
  // bar (same start): a rerun since the drawing would have moved the bars.
  async function jobId(t, i) {
    const one = await api("GET", timelineUrl(`?ids=1&offset=${i}&limit=1`));
    if (one.count !== 1 || Math.abs((one.t0 - t.t0) * 1000 - t.start[i]) > 1) {
      throw new Error("The jobs have changed since the timeline was drawn: reload the charts.");
    }
    return one.ids[0];
  }

  // Rows for the bars (sorted by start), so that bars of a row never overlap and there
  // are as many rows as jobs ever ran at once: a bar takes the row whose last bar ended
  // first, if that one has ended by its start, else a new row. The rows are a binary
  // min-heap by end in two typed arrays, so a bar costs one sift (100,000 bars in a few
  // milliseconds, and no object per bar).
  function pack(t, nowMs) {
    const n = t.count, lane = new Int32Array(n);
    const ends = new Float64Array(n), rows = new Int32Array(n);
    let size = 0;
    for (let i = 0; i < n; i++) {
      const end = t.end[i] < 0 ? nowMs : t.end[i];
      let at;
      if (size && ends[0] <= t.start[i]) {  // the row freed first takes the bar
        lane[i] = rows[0];
        at = 0;
        for (;;) {  // sift the new end down
          const l = 2 * at + 1, r = l + 1;
          if (l >= size) break;
          const m = r < size && ends[r] < ends[l] ? r : l;
          if (ends[m] >= end) break;
          ends[at] = ends[m];
          rows[at] = rows[m];
          at = m;
        }
      } else {  // a new row, sifted up
        lane[i] = size;
        at = size++;
        while (at > 0) {
          const up = (at - 1) >> 1;
          if (ends[up] <= end) break;
          ends[at] = ends[up];
          rows[at] = rows[up];
          at = up;
        }
      }
      ends[at] = end;
      rows[at] = lane[i];
    }
    return lane;
  }

  exposed.pack = pack;

  function drawTimeline(t) {
    const node = $("chart-timeline");
    const nowMs = (t.now - t.t0) * 1000;
    t.lane = pack(t, nowMs);
    const lanes = t.lane.reduce((m, l) => Math.max(m, l + 1), 1);
    // Bars grouped by status once, so each status is one fill of many rectangles.
    const byStatus = t.statuses.map(() => []);
    for (let i = 0; i < t.count; i++) byStatus[t.status[i]].push(i);
    const endOf = (i) => (t.end[i] < 0 ? nowMs : t.end[i]) / 1000 + t.t0;
    const startOf = (i) => t.start[i] / 1000 + t.t0;
    let last = t.t0 + 1;
    for (let i = 0; i < t.count; i++) last = Math.max(last, endOf(i));
    const info = {count: t.count, drawn: 0, lanes, plot: null, t};
    const draw = (u) => {
      const ctx = u.ctx;
      const {left, top, width: w, height: h} = u.bbox;
      const laneHeight = h / lanes;
      const barHeight = Math.max(1, laneHeight * 0.8);
      const xmin = u.scales.x.min, xmax = u.scales.x.max;
      const scale = w / (xmax - xmin);  // canvas pixels a second
      // Bars are snapped to whole pixel columns, and bars of one status in one row whose
      // columns touch are filled as one rectangle: at 100,000 jobs on 1,300 pixels the
      // canvas rasterizes a few thousand rectangles instead of every bar, and what it
      // shows is the same. Zoomed in, every bar is its own rectangle again.
      const runStart = new Float64Array(lanes), runEnd = new Float64Array(lanes);
      let drawn = 0;
      ctx.save();
      ctx.beginPath();
      ctx.rect(left, top, w, h);
      ctx.clip();
      byStatus.forEach((indexes, code) => {
        if (!indexes.length) return;
        ctx.fillStyle = COLORS[t.statuses[code]] || "#666";
        ctx.beginPath();
        runEnd.fill(-1);
        const flush = (lane) => {
          if (runEnd[lane] >= 0) {
            ctx.rect(runStart[lane], top + lane * laneHeight, runEnd[lane] - runStart[lane], barHeight);
          }
        };
        for (const i of indexes) {
          const s = startOf(i), e = endOf(i);
          if (e < xmin || s > xmax) continue;
          drawn++;
          const x0 = Math.floor(left + (s - xmin) * scale);
          const x1 = Math.max(x0 + 1, Math.ceil(left + (e - xmin) * scale));
          const lane = t.lane[i];
          if (x0 <= runEnd[lane]) {
            if (x1 > runEnd[lane]) runEnd[lane] = x1;
            continue;
          }
          flush(lane);
          runStart[lane] = x0;
          runEnd[lane] = x1;
        }
        for (let lane = 0; lane < lanes; lane++) flush(lane);
        ctx.fill();
      });
      ctx.restore();
      info.drawn = drawn;
      node.dataset.drawn = String(drawn);
    };
    const opts = {
      width: width(node), height: Math.min(360, Math.max(140, lanes * 14 + 60)),
      scales: {x: {time: true}, y: {auto: false, range: [0, lanes]}},
      series: [{}, {label: "jobs", stroke: "transparent", points: {show: false}}],
      axes: [{}, {show: false}],
      legend: {show: false},
      cursor: {drag: {x: true, y: false}, points: {show: false}},
      hooks: {draw: [draw],
              setScale: [(u, key) => { if (key === "x") state.zoomed = u.scales.x.min > t.t0 + 1e-9 || u.scales.x.max < last - 1e-9; }]},
    };
    const plot = replacePlot("timeline", opts, [[t.t0, last], [null, null]], node);
    info.plot = plot;
    node.dataset.bars = String(t.count);
    node.dataset.lanes = String(lanes);
    // A click (not a drag) on a bar opens its job.
    let down = null;
    plot.over.addEventListener("mousedown", (e) => { down = [e.clientX, e.clientY]; });
    plot.over.addEventListener("click", (e) => {
      if (down && Math.hypot(e.clientX - down[0], e.clientY - down[1]) > 3) return;
      const i = barAt(plot, e.offsetX, e.offsetY);
      if (i !== null) jobId(t, i).then((id) => location.assign(jobUrl(id)), flashError);
    });
    // The CSS-pixel centre of bar i on the page, or null when it is out of view.
    info.barCenter = (i) => {
      const s = Math.max(startOf(i), plot.scales.x.min);
      const e = Math.min(endOf(i), plot.scales.x.max);
      if (e < s) return null;
      const rect = plot.over.getBoundingClientRect();
      const laneHeight = rect.height / lanes;
      const x = (plot.valToPos(s, "x") + plot.valToPos(e, "x")) / 2;
      return {x: rect.left + x, y: rect.top + (t.lane[i] + 0.4) * laneHeight};
    };
    info.jobId = (i) => jobId(t, i);
    // Every bar's job id, in bar order (one request: for tests and tools).
    info.jobIds = async () => {
      if (!t.count) return [];
      const all = await api("GET", timelineUrl(`?ids=1&limit=${Math.max(1, t.count)}`));
      if (all.count !== t.count || all.t0 !== t.t0) throw new Error("the timeline has changed");
      return all.ids;
    };
    function barAt(u, x, y) {
      const lane = Math.floor(y / (u.over.clientHeight / lanes));
      const time = u.posToVal(x, "x");
      const slack = (u.scales.x.max - u.scales.x.min) / u.over.clientWidth;  // a pixel
      for (let i = 0; i < t.count; i++) {
        if (t.lane[i] === lane && startOf(i) - slack <= time && time <= endOf(i) + slack) return i;
      }
      return null;
    }
    exposed.timeline = info;
    $("timeline-note").textContent = t.count
      ? `${t.count} job${t.count === 1 ? "" : "s"} in ${lanes} row${lanes === 1 ? "" : "s"}` +
        (t.truncated ? " (the first by start time)" : "") +
        ". Drag to zoom, double-click to reset, click a bar to open its job."
      : "No job has started yet.";
  }

  // -- progress over time ---------------------------------------------------------------
  function drawProgress(data) {
    const s = data.summary, node = $("chart-progress");
    const n = s.progress.starts.length;
    const x = [], done = [], cumulative = [], running = [], limit = [];
    let started = 0, ended = 0;
    for (let i = 0; i < n; i++) {
      const endedHere = Object.values(s.progress.ends).reduce((a, list) => a + list[i], 0);
      started += s.progress.starts[i];
      ended += endedHere;
      x.push(s.t0 + i * s.interval);
      done.push(endedHere);
      cumulative.push(ended);
      running.push(started - ended);
      limit.push(data.function.maximum_concurrency);
    }
    const opts = {
      width: width(node), height: 240,
      scales: {x: {time: true}, n: {}, cum: {}},
      series: [{},
        {label: `completed per ${fmtInterval(s.interval)}`, scale: "n", fill: "rgba(22,163,74,.35)",
         stroke: "#16a34a", paths: uPlot.paths.bars({size: [0.9, 60]})},
        {label: "running", scale: "n", stroke: "#2563eb", width: 2, points: {show: false},
         paths: uPlot.paths.stepped({align: 1})},
        {label: "maximum concurrency", scale: "n", stroke: "#6b7280", dash: [6, 4], width: 1,
         points: {show: false}},
        {label: "completed (cumulative)", scale: "cum", stroke: "#111827", width: 2,
         points: {show: false}}],
      axes: [{}, {scale: "n", label: "jobs"}, {scale: "cum", side: 1, label: "cumulative",
                                               grid: {show: false}}],
    };
    replacePlot("progress", opts, [x, done, running, limit, cumulative], node);
    exposed.progress = {x, done, cumulative, running, limit};
    node.dataset.completed = String(ended);
  }

  // -- histograms -----------------------------------------------------------------------
  function histogram(name, counts, binWidth, xLabel, marker, markerLabel) {
    const node = $(`chart-${name}`);
    const x = counts.map((_, i) => i * binWidth);
    const draw = (u) => {
      if (marker === null) return;
      const ctx = u.ctx, px = u.valToPos(marker, "x", true);
      ctx.save();
      ctx.strokeStyle = "#dc2626";
      ctx.setLineDash([5, 4]);
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(px, u.bbox.top);
      ctx.lineTo(px, u.bbox.top + u.bbox.height);
      ctx.stroke();
      ctx.fillStyle = "#dc2626";
      ctx.font = `${12 * devicePixelRatio}px system-ui, sans-serif`;
      ctx.textAlign = "right";
      ctx.fillText(markerLabel, px - 4, u.bbox.top + 14 * devicePixelRatio);
      ctx.restore();
    };
    const opts = {
      width: width(node), height: 200,
      scales: {x: {time: false, range: [0, Math.max(counts.length * binWidth, marker || 0)]}},
      series: [{label: xLabel},
        {label: "jobs", fill: "rgba(37,99,235,.4)", stroke: "#2563eb",
         paths: uPlot.paths.bars({size: [0.92, 100], align: 1})}],
      axes: [{label: xLabel}, {label: "jobs"}],
      legend: {show: false},
      cursor: {drag: {x: false, y: false}},
      hooks: {draw: [draw]},
    };
    replacePlot(name, opts, [x, counts], node);
    const total = counts.reduce((a, b) => a + b, 0);
    exposed[name] = {x, counts, total, binWidth};
    node.dataset.total = String(total);
  }

  function drawHistograms(data) {
    const s = data.summary, fn = data.function;
    histogram("runtime", s.runtime.counts, s.runtime.width, "runtime (s)", null, "");
    histogram("memory", s.memory.counts, s.memory.width,
              "peak memory, % of the Function's memory", 100, `limit ${fmtMemory(fn.memory)}`);
    histogram("cpu", s.cpu.counts, s.cpu.width, "CPU use, % of the Function's cpus", 100,
              `${fn.cpus} vCPU`);
    const peak = s.totals.peak_bytes;
    $("memory-note").textContent = peak === null ? "No job measured yet." :
      `Largest peak ${fmtBytes(peak)} of ${fmtMemory(fn.memory)} ` +
      `(${Math.round(100 * peak / (fn.memory * 1048576))} %); the last bin holds 100 % and more.`;
  }

  // -- failures and usage ---------------------------------------------------------------
  function drawFailures(data) {
    const groups = data.summary.errors;
    const body = $("failures").querySelector("tbody");
    if (!groups.length) {
      replaceChildren(body, el("tr", {}, el("td", {colspan: 2, class: "empty"},
                                             "No failed or timed-out jobs.")));
      return;
    }
    replaceChildren(body, groups.map((g) => {
      const href = `${functionUrl(state.functionId)}?error=${encodeURIComponent(g.reason)}#jobs`;
      return el("tr", {dataset: {count: g.count}},
        el("td", {class: "num count"}, g.count),
        el("td", {class: "error-text"},
           el("a", {class: "failure-link", href, title: "show these jobs"}, g.reason || "(no message)")));
    }));
  }

  function money(usd) {
    return usd < 0.01 ? `$${usd.toFixed(6)}` : `$${usd.toFixed(4)}`;
  }

  function drawUsage(data) {
    const u = data.usage;
    const rows = [["Finished jobs", u.jobs],
                  ["Runtime", `${u.runtime_seconds.toFixed(1)} s`],
                  ["CPU time", `${u.cpu_seconds.toFixed(1)} CPU-seconds`],
                  ["Peak memory", fmtBytes(u.peak_memory_bytes)]];
    if (u.vcpu_seconds !== null) {
      rows.push(["vCPU-seconds", u.vcpu_seconds.toFixed(1)],
                ["GB-seconds", u.gb_seconds.toFixed(1)]);
    }
    if (u.cost) {
      const c = u.cost;
      rows.push(["Estimated cost", el("strong", {id: "usage-cost"}, money(c.usd))],
                ["Priced as", `${c.compute_target} in ${c.region}` +
                  (c.rates_region !== c.region ? ` at ${c.rates_region} rates (region not in the table)` : "") +
                  `, billed ${c.billed_vcpu_seconds.toFixed(0)} vCPU-s / ` +
                  `${c.billed_gb_seconds.toFixed(0)} GB-s` +
                  (c.requests ? `, ${c.requests} requests` : "")],
                ["Rates", `${c.rates_source}, ${c.rates_date}`]);
    } else {
      rows.push(["Cost", "not priced on the embedded backend"]);
    }
    replaceChildren($("usage"), rows.map(([k, v]) => [el("dt", {}, k), el("dd", {dataset: {key: k}}, v)]));
    exposed.usage = u;
  }

  // -- loading --------------------------------------------------------------------------
  async function refresh(force = false) {
    if (state.loading || (!force && Date.now() - state.loaded < state.every)) return;
    state.loading = true;
    const started = performance.now();
    let fetchMs = 0, drawMs = 0;
    // Each chart is drawn as soon as its answer arrives: the timeline's bars while the
    // server still sums the jobs for the others.
    const drawWhenFetched = (request, draw) => request.then((answer) => {
      const fetched = performance.now();
      fetchMs = Math.max(fetchMs, fetched - started);
      draw(answer);
      drawMs += performance.now() - fetched;
    });
    try {
      const base = `/api/functions/${encodeURIComponent(state.functionId)}`;
      await Promise.all([
        drawWhenFetched(api("GET", `${base}/summary`), (data) => {
          drawProgress(data);
          drawHistograms(data);
          drawFailures(data);
          drawUsage(data);
        }),
        state.zoomed ? null : drawWhenFetched(api("GET", timelineUrl()), drawTimeline)]);
      state.loaded = Date.now();
      exposed.renderMs = performance.now() - started;
      exposed.fetchMs = fetchMs;  // until the last answer arrived
      exposed.drawMs = drawMs;    // drawing, both answers together
      // A big Function costs the server seconds per refresh: refresh it less often.
      state.every = Math.max(REFRESH_MS, 10 * exposed.renderMs);
      exposed.renders = (exposed.renders || 0) + 1;
      $("charts").dataset.rendered = String(exposed.renders);
    } catch (err) {
      flashError(err);
    } finally {
      state.loading = false;
    }
  }

  function init(functionId) {
    state.functionId = functionId;
    $("charts-reload").addEventListener("click", () => { state.zoomed = false; refresh(true); });
  }

  return {init, refresh};
})();
