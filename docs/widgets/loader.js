// The widget runtime of the page (main thread).  Mounted on every page of Material's instant
// navigation (document$).  For each <div data-widget> rendered by docs/hooks/widgets.py:
//   static --(runtime starts)--> loading --(Python answered at the current values)--> ready
//   any failure (Pyodide cannot load, an exception in compute) --> error + short message,
//   static figure kept; the other widgets and the page keep working.
// One module Web Worker per page runs Pyodide (worker.js); the main thread never blocks.
// Each widget has at most one computation in flight; moves made meanwhile coalesce to
// the latest value, sent as soon as the answer comes back.
import uPlot from "../assets/vendor/uplot/uPlot.esm.js";

const HERE = import.meta.url;
const BOOT_TIMEOUT_MS = 180000;
const PALETTE = {
  blue: "#4e79a7",
  orange: "#f28e2b",
  red: "#e15759",
  green: "#59a14f",
  purple: "#b07aa1",
  gray: "#8c8c8c",
};
const COLORS = Object.values(PALETTE);

// ------------------------------------------------------------------ the worker (one per page)

let worker = null;
// Milestones in ms since navigation start (read by scripts/bench_site.py).
const timings = (window.__amTimings = { loader: Math.round(performance.now()) });
let booted = null; // Promise<void>: resolves when Python is ready, rejects with a message
let workerCreated = null; // Promise<void>: resolves once `worker` is set (or the boot failed)
let bootError = null; // the Error the boot failed with
const pending = new Map();
let nextId = 1;

// A version-keyed service worker keeps Pyodide and the vendored files for repeat visits
// (docs/widgets/sw.js).  Python never waits for it: once Python is up, the page asks it to
// keep the files the worker loaded (it reads them from the HTTP cache).
let serviceWorker = null;

function serviceWorkerReady() {
  if (serviceWorker) return serviceWorker;
  const sw = navigator.serviceWorker;
  if (sw && location.protocol !== "file:") sw.register(new URL("../sw.js", HERE)).catch(() => null);
  return (serviceWorker = Promise.resolve());
}

function keepPyodide() {
  const sw = navigator.serviceWorker;
  if (!sw || location.protocol === "file:") return;
  sw.ready.then((registration) => registration.active && registration.active.postMessage({ precache: true }))
    .catch(() => {});
}

function createWorker() {
  const created = { worker: null, error: null, messages: [], errors: [] };
  try {
    created.worker = new Worker(new URL("./worker.js", HERE), { type: "module", name: "alignment-math" });
    created.created = performance.now();
  } catch (error) {
    created.error = error;
  }
  return created;
}

function startWorker() {
  if (booted) return booted;
  // docs/widgets/early.js (inlined in <head>) may have started the worker already.
  const early = window.__amEarly;
  const created = early ? early.started : serviceWorkerReady().then(createWorker);
  let markCreated = null;
  workerCreated = new Promise((resolve) => { markCreated = resolve; });
  booted = created.then((w) => new Promise((resolve, reject) => {
    timings.worker_created = Math.round(w.created || performance.now());
    const fail = (message) => {
      bootError = new Error(message);
      markCreated();
      reject(bootError);
      for (const { reject: r } of pending.values()) r(new Error(message));
      pending.clear();
    };
    if (!w.worker) {
      fail(`this browser cannot start the Python worker (${w.error && w.error.message})`);
      return;
    }
    worker = w.worker;
    markCreated();
    const timer = setTimeout(() => fail("Python took too long to start"), BOOT_TIMEOUT_MS);
    const onMessage = (data) => {
      if (data.type === "boot") {
        clearTimeout(timer);
        for (const [k, t] of Object.entries(data.timings || {})) timings[k] = Math.round(t - performance.timeOrigin);
        if (data.ok) resolve();
        else fail(`Python could not start: ${data.error}`);
        return;
      }
      const job = pending.get(data.id);
      if (!job) return;
      timings.first_answer ??= Math.round(performance.now());
      if (data.sent) timings.first_answer_sent ??= Math.round(data.sent - performance.timeOrigin);
      pending.delete(data.id);
      job.resolve(JSON.parse(data.json));
    };
    const onError = (message) => {
      clearTimeout(timer);
      fail(`the Python worker failed to load${message ? ` (${message})` : ""}`);
    };
    worker.onmessage = ({ data }) => onMessage(data);
    worker.onerror = (event) => { event.preventDefault(); onError(event.message); };
    for (const data of w.messages) onMessage(data);
    for (const message of w.errors) onError(message);
  }));
  booted.then(keepPyodide, () => {});
  return booted;
}

/** Send one request to the worker; resolves with its JSON answer ({ok, ...}).  It is sent as
 * soon as the worker exists, not when Python is up: the worker answers it the moment Python is
 * ready, without waiting for this (often busy) thread to hear so first. */
function ask(message) {
  startWorker();
  return workerCreated.then(() => new Promise((resolve, reject) => {
    if (bootError) { reject(bootError); return; }
    const id = nextId++;
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, ...message });
  }));
}

// ------------------------------------------------------------------ shared helpers

function setState(root, state, message = "") {
  root.dataset.state = state;
  const status = root.querySelector(":scope > .am-widget__status");
  if (status) status.textContent = message;
}

function shortError(error) {
  const text = String((error && error.message) || error || "unknown error");
  return text.length > 200 ? `${text.slice(0, 197)}…` : text;
}

function formatValue(input) {
  const decimals = Number(input.dataset.decimals || 0);
  let text = Number(input.value).toFixed(decimals);
  if (Number(text) === 0) text = text.replace(/^-/, "");
  const unit = input.dataset.unit || "";
  return unit ? `${text} ${unit}` : text;
}

function themeColors() {
  const style = getComputedStyle(document.body);
  const fg = style.getPropertyValue("--md-default-fg-color").trim() || "#333";
  const grid = style.getPropertyValue("--md-default-fg-color--lightest").trim() || "#ddd";
  const bg = style.getPropertyValue("--md-default-bg-color").trim() || "#fff";
  return { fg, grid, bg };
}

// ------------------------------------------------------------------ charts (uPlot)

function seriesColor(s, i) {
  if (s.color && s.color.startsWith("#")) return s.color;
  return PALETTE[s.color] || COLORS[i % COLORS.length];
}

function chartData(spec) {
  const x = spec.categories ? spec.x.map((_, i) => i) : spec.x;
  return [x, ...spec.series.map((s) => s.y)];
}

function markerX(spec, x) {
  if (!spec.categories) return x;
  let best = 0;
  spec.x.forEach((v, i) => {
    if (Math.abs(v - x) < Math.abs(spec.x[best] - x)) best = i;
  });
  return best;
}

// Tick labels are measured with the font the axes draw with, so an axis is as wide as its
// widest label (never clipped), category labels that would collide are rotated, then
// shortened (full text in the chart's text alternative and its tooltip), then thinned.
const AXIS_FONT_PX = 12;
const AXIS_FONT = `${AXIS_FONT_PX}px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif`;
const ROTATE_DEG = 40;
const MAX_LABEL_PX = 96;
let measurer = null;

function textWidth(text) {
  measurer ??= document.createElement("canvas").getContext("2d");
  measurer.font = AXIS_FONT;
  return measurer.measureText(String(text)).width;
}

function shorten(label, px) {
  if (textWidth(label) <= px) return label;
  let n = label.length;
  while (n > 1 && textWidth(`${label.slice(0, n - 1).trimEnd()}…`) > px) n--;
  return `${label.slice(0, Math.max(1, n - 1)).trimEnd()}…`;
}

/** Whether an x axis counts things (whole numbers at least one apart): integer ticks. */
function isIntegerAxis(x) {
  const v = x.filter(Number.isFinite);
  if (v.length < 2 || !v.every((a) => Number.isInteger(a))) return false;
  const sorted = [...new Set(v)].sort((a, b) => a - b);
  return sorted.slice(1).every((a, i) => a - sorted[i] >= 1);
}

const INTEGER_INCRS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 1e5, 1e6];

/** The layout of category labels for a plot width: rotated? shortened? every k-th shown? */
function categoryLayout(categories, plotWidth) {
  const slot = plotWidth / Math.max(1, categories.length);
  const widest = Math.max(...categories.map(textWidth));
  if (widest + 8 <= slot) return { rotate: 0, labels: categories, every: 1 };
  const labels = categories.map((c) => shorten(c, MAX_LABEL_PX));
  // rotated labels are spaced slot * sin(angle) apart across their own direction
  const across = slot * Math.sin((ROTATE_DEG * Math.PI) / 180);
  const every = Math.max(1, Math.ceil((AXIS_FONT_PX + 3) / across));
  return { rotate: ROTATE_DEG, labels, every };
}

function markerPath(ctx, shape, cx, cy, r) {
  ctx.beginPath();
  if (shape === 0) { // diamond
    ctx.moveTo(cx, cy - r * 1.25); ctx.lineTo(cx + r * 1.25, cy);
    ctx.lineTo(cx, cy + r * 1.25); ctx.lineTo(cx - r * 1.25, cy);
  } else if (shape === 1) { // square
    ctx.rect(cx - r, cy - r, 2 * r, 2 * r);
  } else { // triangle
    ctx.moveTo(cx, cy - r * 1.3); ctx.lineTo(cx + r * 1.2, cy + r * 0.9); ctx.lineTo(cx - r * 1.2, cy + r * 0.9);
  }
  ctx.closePath();
}

const MARKER_SVG = [
  '<path d="M5 0L10 5L5 10L0 5Z"/>',
  '<rect x="1" y="1" width="8" height="8"/>',
  '<path d="M5 0L10 9H0Z"/>',
];

function chartOptions(spec, width, holder) {
  const { fg, grid, bg } = themeColors();
  const nBars = spec.series.filter((s) => s.kind === "bar").length;
  const pointSeries = spec.series.filter((s) => s.kind === "points");
  let barIndex = 0;
  const series = [{ label: spec.x_label || "x" }];
  spec.series.forEach((s, i) => {
    const color = seriesColor(s, i);
    const opts = { label: s.label, stroke: color, width: 2, spanGaps: false };
    if (s.dash) opts.dash = [6, 4];
    if (s.kind === "bar") {
      const align = nBars === 1 ? 0 : barIndex++ === 0 ? -1 : 1;
      opts.paths = uPlot.paths.bars({ size: [nBars === 1 ? 0.6 : 0.4, Infinity], align });
      opts.fill = color + "cc";
      opts.points = { show: false };
    } else if (s.kind === "points") {
      // points of several series that share a position: concentric, an earlier series
      // drawn larger by one ring for each later series on one of its points
      const k = pointSeries.indexOf(s);
      const sharing = s.y.map((v, j) => pointSeries.slice(k + 1).filter(
        (t) => Number.isFinite(v) && Number.isFinite(t.y[j]) && Math.abs(t.y[j] - v) < 1e-9).length);
      const size = 8 + 5 * Math.max(0, ...sharing);
      opts.paths = () => null;
      opts.points = { show: true, size, stroke: bg, width: 1, fill: color };
    } else if (s.kind === "step") {
      opts.paths = uPlot.paths.stepped({ align: 1 });
      opts.points = { show: false };
    } else {
      opts.points = { show: false };
    }
    series.push(opts);
  });
  const axis = { stroke: fg, font: AXIS_FONT, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1, size: 6 }, gap: 4 };
  const yAxis = {
    ...axis,
    size: (u, values) => Math.ceil(6 + 4 + 6 + Math.max(0, ...(values || []).map((v) => textWidth(v ?? "")))),
  };
  const xAxis = { ...axis, size: () => AXIS_FONT_PX + 6 + 4 + 10 };
  const scales = { x: { time: false } };
  if (spec.categories) {
    const n = spec.categories.length;
    const layout = () => {
      const plot = holder.plot;
      const yw = plot && plot.axes[1]._size ? plot.axes[1]._size : 50;
      return categoryLayout(spec.categories, Math.max(40, (plot ? plot.width : width) - yw - 10));
    };
    xAxis.splits = () => spec.categories.map((_, i) => i);
    xAxis.values = (_, splits) => {
      const { labels, every } = layout();
      return splits.map((i) => (i % every === 0 ? labels[i] ?? "" : ""));
    };
    xAxis.rotate = () => layout().rotate;
    xAxis.size = (u, values) => {
      const { rotate } = layout();
      if (!rotate) return AXIS_FONT_PX + 6 + 4 + 10;
      const a = (rotate * Math.PI) / 180;
      const widest = Math.max(0, ...(values || []).map((v) => textWidth(v ?? "")));
      return Math.ceil(6 + 4 + widest * Math.sin(a) + AXIS_FONT_PX * Math.cos(a) + 6);
    };
    xAxis.grid = { show: false };
    scales.x.range = () => [-0.5, n - 0.5];
  } else if (isIntegerAxis(spec.x)) {
    xAxis.incrs = INTEGER_INCRS;
    xAxis.values = (_, splits) => splits.map((v) => String(Math.round(v)));
  }
  scales.y = {
    range: (u, min, max) => {
      for (const m of holder.spec.markers) {
        if (Number.isFinite(m.y)) { min = Math.min(min, m.y); max = Math.max(max, m.y); }
      }
      const s = holder.spec;
      if (s.series.some((x) => x.kind === "bar")) { min = Math.min(min, 0); max = Math.max(max, 0); }
      let lo = s.y_min ?? min;
      let hi = s.y_max ?? max;
      if (!(hi > lo)) { lo -= 1; hi += 1; }
      const pad = (hi - lo) * 0.05;
      return [s.y_min ?? lo - pad, s.y_max ?? hi + pad];
    },
  };
  return {
    width,
    height: chartHeight(width),
    series,
    scales,
    axes: [xAxis, yAxis],
    legend: { show: true, live: false },
    cursor: { show: false },
    hooks: {
      drawClear: [(u) => drawBands(u, holder.spec)],
      draw: [(u) => drawMarkers(u, holder.spec, fg, bg)],
    },
  };
}

function chartHeight(width) {
  return Math.round(Math.min(320, Math.max(220, width * 0.55)));
}

function drawBands(u, spec) {
  const { ctx } = u;
  const { top, height } = u.bbox;
  ctx.save();
  ctx.fillStyle = "rgba(140, 140, 140, 0.2)";
  for (const b of spec.bands) {
    const x0 = u.valToPos(b.x0, "x", true);
    const x1 = u.valToPos(b.x1, "x", true);
    ctx.fillRect(Math.min(x0, x1), top, Math.abs(x1 - x0), height);
  }
  ctx.restore();
}

// A marker ("current", "recommended", a peak) is drawn in the text colour, never a series
// colour, one hollow shape per marker, haloed in the background colour so it shows on any line.
function drawMarkers(u, spec, fg, bg) {
  const { ctx } = u;
  ctx.save();
  ctx.setLineDash([]); // a dashed series leaves its dash on the context
  spec.markers.forEach((m, k) => {
    if (!Number.isFinite(m.x) || !Number.isFinite(m.y)) return;
    const cx = u.valToPos(markerX(spec, m.x), "x", true);
    const cy = u.valToPos(m.y, "y", true);
    // hollow, so a point under the marker still shows; a halo in the background colour
    markerPath(ctx, k % MARKER_SVG.length, cx, cy, 7 * devicePixelRatio);
    ctx.lineWidth = 4.5 * devicePixelRatio;
    ctx.strokeStyle = bg;
    ctx.stroke();
    ctx.lineWidth = 2.2 * devicePixelRatio;
    ctx.strokeStyle = fg;
    ctx.stroke();
  });
  ctx.restore();
}

class LiveChart {
  constructor(figure) {
    this.figure = figure;
    this.staticEl = figure.querySelector(".am-chart__static");
    this.liveEl = figure.querySelector(".am-chart__live");
    this.plot = null;
    this.holder = { spec: null, plot: null };
    this.shape = "";
    this.printWidth = null;
  }

  update(spec) {
    this.holder.spec = spec;
    this.liveEl.setAttribute("aria-label", spec.alt);
    const shape = JSON.stringify([spec.series.map((s) => [s.label, s.kind, s.color, s.dash]),
      spec.categories, spec.x_label, spec.y_label]);
    if (this.staticEl) this.staticEl.hidden = true;
    this.liveEl.hidden = false;
    if (!this.plot || shape !== this.shape) {
      this.rebuild(spec);
      this.shape = shape;
    } else {
      this.plot.setData(chartData(spec));
    }
    this.updateMarkers(spec);
  }

  plotWidth() {
    const style = getComputedStyle(this.liveEl);
    const pad = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight) || 0;
    const width = this.printWidth || (this.liveEl.clientWidth || this.figure.clientWidth || 600) - pad;
    return Math.max(200, Math.floor(width));
  }

  rebuild(spec = this.holder.spec) {
    if (!spec) return;
    if (this.plot) this.plot.destroy();
    for (const el of this.liveEl.querySelectorAll(".am-axis-title, .am-chart__markers")) el.remove();
    // a y title longer than the plot is tall goes above the plot, horizontally
    const guess = (this.liveEl.clientWidth || this.figure.clientWidth || 600) - 24;
    const ytop = Boolean(spec.y_label) && textWidth(spec.y_label) > chartHeight(guess) - 50;
    this.liveEl.classList.toggle("has-ytitle", Boolean(spec.y_label) && !ytop);
    const width = this.plotWidth();
    this.plot = new uPlot(chartOptions(spec, width, this.holder), chartData(spec), this.liveEl);
    this.holder.plot = this.plot;
    this.plot.root.setAttribute("aria-hidden", "true");
    // axis titles are HTML, so a long title wraps instead of being clipped
    if (spec.y_label) {
      const y = Object.assign(document.createElement("div"), {
        className: `am-axis-title ${ytop ? "am-axis-title--ytop" : "am-axis-title--y"}`,
        textContent: ytop ? `↑ ${spec.y_label}` : spec.y_label,
      });
      y.setAttribute("aria-hidden", "true");
      this.liveEl.prepend(y);
    }
    if (spec.x_label) {
      const x = Object.assign(document.createElement("p"), { className: "am-axis-title am-axis-title--x", textContent: spec.x_label });
      x.setAttribute("aria-hidden", "true");
      this.plot.root.querySelector(".u-wrap").after(x);
    }
    this.markers = Object.assign(document.createElement("ul"), { className: "am-chart__markers" });
    this.markers.setAttribute("aria-hidden", "true");
    this.plot.root.append(this.markers);
    if (spec.categories) {
      const shown = categoryLayout(spec.categories, width).labels;
      this.liveEl.title = shown.some((l, i) => l !== spec.categories[i]) ? spec.categories.join(" · ") : "";
    }
    this.place();
    this.updateMarkers(spec);
  }

  place() {
    const y = this.liveEl.querySelector(".am-axis-title--y");
    if (y && this.plot) {
      // (a title above the plot needs no placing)
      // centred on the plotting area (not the x axis under it)
      const top = this.plot.bbox.top / devicePixelRatio;
      y.style.top = `${Math.round(top)}px`;
      y.style.height = `${Math.round(this.plot.bbox.height / devicePixelRatio)}px`;
    }
  }

  updateMarkers(spec) {
    if (!this.markers) return;
    const items = spec.markers.filter((m) => m.label).map((m) => {
      const k = spec.markers.indexOf(m) % MARKER_SVG.length;
      return `<li><svg viewBox="-2 -2 14 14" fill="none" stroke="currentColor" stroke-width="2">${MARKER_SVG[k]}</svg>${escapeHTML(m.label)}</li>`;
    });
    const html = items.join("");
    if (this.markers.innerHTML !== html) this.markers.innerHTML = html;
  }

  resize() {
    if (!this.plot) return;
    const width = this.plotWidth();
    if (Math.abs(width - this.plot.width) > 1) {
      if (this.holder.spec && this.holder.spec.categories) this.rebuild();
      else this.plot.setSize({ width, height: chartHeight(width) });
      this.place();
    }
  }

  showStatic() {
    if (this.staticEl) {
      this.staticEl.hidden = false;
      this.liveEl.hidden = true;
    }
  }
}

function escapeHTML(text) {
  return String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

// ------------------------------------------------------------------ one computed widget

const live = new Set();

class ComputedWidget {
  constructor(root) {
    this.root = root;
    this.name = root.dataset.widget;
    this.form = root.querySelector("form.am-controls");
    this.charts = [...root.querySelectorAll("figure.am-chart")].map((f) => new LiveChart(f));
    this.busy = false;
    this.dirty = false;
    this.listeners = [];
    this.requests = 0; // computations asked of the worker (the tests check coalescing)
  }

  params() {
    const params = {};
    for (const input of this.form.elements) {
      if (!input.name) continue;
      if (input.type === "range") params[input.name] = Number(input.value);
      else if (input.type === "checkbox") params[input.name] = input.checked;
      else if (input.type === "radio") { if (input.checked) params[input.name] = input.value; }
    }
    return params;
  }

  start() {
    setState(this.root, "loading", "Starting Python in your browser…");
    this.form.addEventListener("submit", (e) => e.preventDefault());
    this.form.addEventListener("input", (event) => {
      const input = event.target;
      if (input.type === "range") {
        const text = formatValue(input);
        const out = this.form.querySelector(`output[data-value-for="${input.name}"]`);
        if (out) out.textContent = text;
        input.setAttribute("aria-valuetext", text);
      }
      this.request();
    });
    this.form.addEventListener("change", () => this.request());
    // asked at once: the worker answers when Python is up (a failed start rejects the request)
    this.restore().then(() => this.request(), (error) => this.fail(error, true));
  }

  // ---- shareable state: ?<root id>.<param>=<value>…#<root id>, validated by Python
  // (Widget.params(raw, lenient=True): unknown names dropped, bad values -> defaults).

  sharedParams() {
    const prefix = `${this.root.id}.`;
    const raw = {};
    for (const [key, value] of new URLSearchParams(location.search)) {
      if (key.startsWith(prefix)) raw[key.slice(prefix.length)] = value;
    }
    return raw;
  }

  async restore() {
    const raw = this.sharedParams();
    if (!Object.keys(raw).length) return;
    const answer = await ask({ validate: this.name, raw });
    if (!answer.ok) return;
    for (const input of this.form.elements) {
      if (!input.name || !(input.name in answer.params)) continue;
      const value = answer.params[input.name];
      if (input.type === "range") {
        input.value = String(value);
        const text = formatValue(input);
        const out = this.form.querySelector(`output[data-value-for="${input.name}"]`);
        if (out) out.textContent = text;
        input.setAttribute("aria-valuetext", text);
      } else if (input.type === "checkbox") input.checked = Boolean(value);
      else if (input.type === "radio") input.checked = input.value === value;
    }
    if (location.hash === `#${this.root.id}`) this.root.scrollIntoView();
  }

  shareURL(params) {
    const url = new URL(location.href);
    const prefix = `${this.root.id}.`;
    for (const key of [...url.searchParams.keys()]) if (key.startsWith(prefix)) url.searchParams.delete(key);
    for (const [name, value] of Object.entries(params)) url.searchParams.set(prefix + name, String(value));
    url.hash = this.root.id;
    return url.href;
  }

  updateShareLink(params) {
    if (!this.share) {
      this.share = Object.assign(document.createElement("a"), {
        className: "am-share",
        textContent: "Link to these settings",
        title: "Copy a link that opens this widget with the current settings",
      });
      this.share.addEventListener("click", (event) => {
        event.preventDefault();
        history.replaceState(history.state, "", this.share.href);
        const done = () => setState(this.root, this.root.dataset.state, "Link copied (also in the address bar).");
        if (navigator.clipboard) navigator.clipboard.writeText(this.share.href).then(done, () =>
          setState(this.root, this.root.dataset.state, "The link is in the address bar."));
        else done();
      });
      this.form.after(this.share);
    }
    this.share.href = this.shareURL(params);
  }

  request() {
    if (this.root.dataset.state === "static" || this.fatal) return;
    if (this.busy) { this.dirty = true; return; }
    this.busy = true;
    this.dirty = false;
    const params = this.params();
    this.requests++;
    ask({ widget: this.name, params }).then(
      (answer) => {
        this.busy = false;
        if (answer.ok) { this.apply(answer.result); this.updateShareLink(answer.result.params); }
        else this.fail(new Error(answer.error), false);
        if (this.dirty) this.request();
      },
      (error) => { this.busy = false; this.fail(error, true); },
    );
  }

  apply(result) {
    for (const [key, readout] of Object.entries(result.readouts)) {
      const el = this.root.querySelector(`[data-readout="${key}"]`);
      if (el && el.textContent !== readout.text) el.textContent = readout.text;
    }
    const note = this.root.querySelector(":scope > .am-widget__note");
    if (note) { note.textContent = result.note; note.hidden = !result.note; }
    const settings = this.root.querySelector(":scope > .am-widget__settings");
    if (settings) settings.textContent = this.settingsText();
    result.charts.forEach((spec, i) => this.charts[i] && this.charts[i].update(spec));
    if (this.root.dataset.state !== "ready") {
      timings.first_ready ??= Math.round(performance.now());
      for (const input of this.form.elements) input.disabled = false;
      setState(this.root, "ready", "");
    }
  }

  // The controls' values as one sentence, printed instead of the controls (the same
  // rule as settings_text in docs/hooks/widgets.py).
  settingsText() {
    const parts = [];
    for (const control of this.form.querySelectorAll(".am-control")) {
      const range = control.querySelector("input[type=range]");
      const box = control.querySelector("input[type=checkbox]");
      if (range) {
        parts.push(`${control.querySelector("label").textContent}: ${formatValue(range)}`);
      } else if (box) {
        parts.push(`${control.querySelector("label").textContent}: ${box.checked ? "on" : "off"}`);
      } else {
        const checked = control.querySelector("input[type=radio]:checked");
        const label = checked && control.querySelector(`label[for="${checked.id}"]`);
        parts.push(`${control.querySelector("legend").textContent}: ${label ? label.textContent : ""}`);
      }
    }
    return parts.length ? `Settings — ${parts.join("; ")}.` : "";
  }

  fail(error, fatal) {
    this.fatal = this.fatal || fatal;
    for (const chart of this.charts) chart.showStatic();
    if (fatal) for (const input of this.form.elements) input.disabled = true;
    const what = fatal ? "The live version is unavailable" : "This setting could not be computed";
    setState(this.root, "error", `${what}: ${shortError(error)}. The figure shows the default values.`);
    console.error(`widget ${this.name}:`, error);
  }

  redraw() {
    for (const chart of this.charts) chart.rebuild();
  }
}

// ------------------------------------------------------------------ script widgets

async function mountScript(root) {
  setState(root, "loading", "");
  try {
    const url = new URL(`./${root.dataset.script}.js`, HERE);
    const module = await import(url.href);
    await module.default(root);
    setState(root, "ready", "");
  } catch (error) {
    setState(root, "error", `The live version is unavailable: ${shortError(error)}`);
    console.error(`widget ${root.dataset.widget}:`, error);
  }
}

// ------------------------------------------------------------------ runnable code blocks

// Each ```python block becomes editable and gets a Run button; the code runs in the page's
// Python worker (one namespace per page, like the doc tests) and its output appears below.
// Blocks that need the torch training code (not in the browser) are left alone.
const NOT_IN_BROWSER = /\b(torch|alignment_train|subprocess)\b/;

function mountSnippets() {
  const blocks = document.querySelectorAll(".md-content div.language-python.highlight:not([data-snippet])");
  for (const block of blocks) {
    const code = block.querySelector("pre > code");
    if (!code || block.closest(".am-widget") || NOT_IN_BROWSER.test(code.textContent)) continue;
    block.dataset.snippet = "idle";
    code.setAttribute("contenteditable", "plaintext-only");
    code.setAttribute("spellcheck", "false");
    code.setAttribute("aria-label", "Python code (editable)");
    const bar = document.createElement("div");
    bar.className = "am-snippet-bar";
    const run = Object.assign(document.createElement("button"), {
      type: "button", className: "md-button am-run", textContent: "Run",
      title: "Run this code in your browser (you can edit it first)",
    });
    const output = Object.assign(document.createElement("pre"), { className: "am-snippet-output", hidden: true });
    output.setAttribute("aria-live", "polite");
    bar.append(run);
    block.after(bar, output);
    run.addEventListener("click", async () => {
      run.disabled = true;
      block.dataset.snippet = "running";
      output.hidden = false;
      output.textContent = booted ? "Running…" : "Starting Python in your browser…";
      try {
        const answer = await ask({ code: code.textContent, key: location.pathname });
        output.textContent = answer.output || "(no output)";
        block.dataset.snippet = answer.ok ? "done" : "failed";
      } catch (error) {
        output.textContent = `Python is unavailable: ${shortError(error)}`;
        block.dataset.snippet = "failed";
      } finally {
        run.disabled = false;
      }
    });
  }
}

// ------------------------------------------------------------------ mounting

let resizeObserver = null;

// Material adds a <nav> to each code block (its copy button): landmarks need distinct names.
function nameCodeNavs() {
  document.querySelectorAll(".md-code__nav").forEach((nav, i) => nav.setAttribute("aria-label", `Code block ${i + 1} actions`));
}

function afterMaterial() {
  markScrollRegions();
  nameCodeNavs();
}

function mountAll() {
  mountSnippets();
  afterMaterial();
  requestAnimationFrame(afterMaterial); // after Material has wrapped the tables, added code navs
  setTimeout(afterMaterial, 1000);      // and after web fonts have changed the widths
  mountWidgets();
}

function mountWidgets() {
  for (const w of live) if (!w.root.isConnected) live.delete(w);
  const roots = document.querySelectorAll("[data-widget][data-state='static']");
  for (const root of roots) {
    if (root.dataset.script) { mountScript(root); continue; }
    const w = new ComputedWidget(root);
    root.amWidget = w;
    live.add(w);
    w.start();
    if (!resizeObserver && "ResizeObserver" in window) {
      resizeObserver = new ResizeObserver(() => {
        for (const x of live) for (const c of x.charts) c.resize();
      });
    }
    if (resizeObserver) resizeObserver.observe(root);
  }
}

// Print: the charts are redrawn at a width that fits the page, then back.
const PRINT_WIDTH = 640;
function printCharts(printing) {
  for (const w of live) {
    if (!w.root.isConnected) continue;
    for (const c of w.charts) {
      c.printWidth = printing ? Math.min(PRINT_WIDTH, c.liveEl.clientWidth || PRINT_WIDTH) : null;
      c.resize();
    }
  }
}
window.addEventListener("beforeprint", () => printCharts(true));
window.addEventListener("afterprint", () => printCharts(false));

// A wide table or display equation scrolls sideways: it then takes keyboard focus and is
// named as a region (equations are marked at build time; here the focus stop is dropped
// where nothing scrolls, and tables, which Material wraps at run time, are marked).
const SCROLLERS = [
  [".md-typeset .md-typeset__scrollwrap", "region", "Table (scrolls sideways)"],
  [".md-typeset div.arithmatex", "group", "Equation (scrolls sideways)"],
  [".jp-Cell .highlight-ipynb, .jp-OutputArea-output pre, .jp-OutputArea-output", "region", "Notebook code or output (scrolls)"],
];

// Off-screen blocks may not be laid out yet (site.css: content-visibility: auto): nothing can be
// measured there, so they keep the build's marking until they are rendered, and are measured then.
const laidOut = (el) => {
  const probe = el.firstElementChild || el;
  return typeof probe.checkVisibility !== "function" || probe.checkVisibility({ contentVisibilityAuto: true });
};

function markScrollRegions() {
  // all reads first, then all writes (one layout, not one per element)
  const found = [];
  for (const [selector, role, label] of SCROLLERS) document.querySelectorAll(selector).forEach((el, i) => {
    if (!laidOut(el)) return;
    const scrolls = (el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1)
      && getComputedStyle(el).overflow !== "visible";
    found.push([el, scrolls, role, `${label}, ${i + 1}`]);
  });
  for (const [el, scrolls, role, label] of found) {
    if (scrolls) {
      if (el.dataset.amScrolls === undefined) el.dataset.amScrolls = "";
      el.tabIndex = 0;
      el.setAttribute("role", role);
      el.setAttribute("aria-label", label);
    } else if (el.hasAttribute("tabindex") || el.dataset.amScrolls !== undefined) {
      el.removeAttribute("tabindex");
      delete el.dataset.amScrolls;
      el.removeAttribute("role");
      el.removeAttribute("aria-label");
    }
  }
}
let scrollTimer = 0;
const remark = () => {
  clearTimeout(scrollTimer);
  scrollTimer = setTimeout(markScrollRegions, 150);
};
window.addEventListener("resize", remark);
document.addEventListener("contentvisibilityautostatechange", (event) => {
  if (!event.skipped) remark();
}, true);

// The charts follow Material's light/dark scheme (data-md-color-scheme on <body>).
new MutationObserver(() => {
  for (const w of live) if (w.root.isConnected) w.redraw();
}).observe(document.body, { attributes: true, attributeFilter: ["data-md-color-scheme"] });

serviceWorkerReady();
if (window.__amEarly) startWorker();

// Material's document$ emits each page (the first and every instant navigation); the rest of
// mountAll waits for it (Material wraps tables and adds code navs first).  On a page with widgets
// this module runs before Material's bundle (docs/hooks/widgets.py: widgets_first): the page is
// parsed, so its widgets ask for their numbers at once, and document$ is there at
// DOMContentLoaded.
function subscribe() {
  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(() => {
      timings.material ??= Math.round(performance.now()); // Material's own start-up is through
      mountAll();
    });
  } else {
    mountAll();
  }
}
if (document.readyState !== "loading") mountWidgets();
if (document.readyState === "complete" || window.document$) subscribe();
else document.addEventListener("DOMContentLoaded", subscribe, { once: true });

export { ask, mountAll, startWorker };
