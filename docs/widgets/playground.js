// The live playground (widgets/alignment_widgets/playground.py): the page's Python worker
// trains, this file only asks for steps and draws.
//
// Protocol (worker.js message type `live`): {op: "reset", params} -> {describe},
// {op: "set", params} -> {reset, describe}, {op: "step", steps} -> {rows: [[row...] per run]}.
// While playing, one step request is in flight at a time; each answer is one chart update,
// drawn on the next animation frame, and the next request goes out with that frame (so the
// pace is "steps per update" times the frame rate, whatever the worker's speed). Pause stops asking: the answer already in flight is
// the last update. Reset (or changing the data, the methods or the seed) starts both runs
// again from step 0, and answers that were in flight for the old runs are dropped.
// root.amPlayground exposes the streamed rows and the update counters to tests and
// scripts/bench_playground.py.

import { ask } from "./loader.js";

const COLORS = ["#4e79a7", "#e15759", "#59a14f", "#f28e2b"];
const NAME = "playground";

function css(el, text) { el.setAttribute("style", text); return el; }

// ------------------------------------------------------------------ a small canvas chart

class Chart {
  constructor(parent, title, xLabel, yLabel) {
    this.figure = document.createElement("div");
    this.figure.className = "am-pg__chart";
    const caption = document.createElement("p");
    caption.textContent = title;
    this.canvas = document.createElement("canvas");
    this.canvas.setAttribute("role", "img");
    this.canvas.setAttribute("aria-label", title);
    this.figure.append(caption, this.canvas);
    parent.append(this.figure);
    this.title = title;
    this.xLabel = xLabel;
    this.yLabel = yLabel;
  }

  // lines: [{label, xs, ys, color, dash, dot}], bars: {categories, series: [{label, ys, color}]}
  draw({ lines = [], bars = null, yMin = null, yMax = null }) {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(240, this.figure.clientWidth || 320);
    const height = 190;
    if (this.canvas.width !== width * ratio) {
      this.canvas.width = width * ratio;
      this.canvas.height = height * ratio;
      css(this.canvas, `width:${width}px;height:${height}px`);
    }
    const ctx = this.canvas.getContext("2d");
    const fg = getComputedStyle(document.body).getPropertyValue("--md-default-fg-color").trim() || "#333";
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = "11px sans-serif";
    ctx.fillStyle = fg;
    ctx.strokeStyle = fg;
    const box = { x: 46, y: 8, w: width - 56, h: height - 40 };
    let xs = [], ys = [];
    for (const l of lines) { xs = xs.concat(l.xs); ys = ys.concat(l.ys); }
    if (bars) for (const s of bars.series) ys = ys.concat(s.ys);
    ys = ys.filter(Number.isFinite);
    xs = xs.filter(Number.isFinite);
    let lo = yMin ?? (ys.length ? Math.min(...ys) : 0);
    let hi = yMax ?? (ys.length ? Math.max(...ys) : 1);
    if (bars) lo = Math.min(lo, 0);
    if (!(hi > lo)) { lo -= 0.5; hi += 0.5; }
    const pad = yMin === null ? (hi - lo) * 0.06 : 0;
    lo -= pad; hi += yMax === null ? pad : 0;
    const x0 = bars ? -0.5 : (xs.length ? Math.min(...xs) : 0);
    let x1 = bars ? bars.categories.length - 0.5 : (xs.length ? Math.max(...xs) : 1);
    if (!(x1 > x0)) x1 = x0 + 1;
    const px = (x) => box.x + ((x - x0) / (x1 - x0)) * box.w;
    const py = (y) => box.y + box.h - ((y - lo) / (hi - lo)) * box.h;
    ctx.globalAlpha = 0.35;
    ctx.strokeRect(box.x, box.y, box.w, box.h);
    ctx.globalAlpha = 1;
    ctx.textAlign = "right";
    ctx.fillText(hi.toFixed(2), box.x - 4, box.y + 9);
    ctx.fillText(lo.toFixed(2), box.x - 4, box.y + box.h);
    ctx.textAlign = "center";
    if (bars) {
      const n = bars.series.length;
      bars.categories.forEach((c, i) => ctx.fillText(String(i + 1), px(i), box.y + box.h + 12));
      bars.series.forEach((s, j) => {
        ctx.fillStyle = s.color;
        const w = (box.w / bars.categories.length) * 0.8 / n;
        s.ys.forEach((y, i) => {
          const left = px(i) - (w * n) / 2 + j * w;
          ctx.fillRect(left, py(Math.max(y, 0)), w - 1, Math.abs(py(y) - py(0)));
        });
      });
      ctx.fillStyle = fg;
    } else {
      ctx.textAlign = "left";
      ctx.fillText(fmt(x0), box.x, box.y + box.h + 12);
      ctx.textAlign = "right";
      ctx.fillText(fmt(x1), box.x + box.w, box.y + box.h + 12);
    }
    ctx.textAlign = "center";
    ctx.fillText(this.xLabel, box.x + box.w / 2, height - 6);
    for (const l of lines) {
      ctx.strokeStyle = l.color;
      ctx.lineWidth = 2;
      ctx.setLineDash(l.dash ? [6, 4] : []);
      ctx.beginPath();
      let started = false;
      for (let i = 0; i < l.xs.length; i++) {
        if (!Number.isFinite(l.ys[i]) || !Number.isFinite(l.xs[i])) { started = false; continue; }
        const X = px(l.xs[i]), Y = py(l.ys[i]);
        if (started) ctx.lineTo(X, Y); else { ctx.moveTo(X, Y); started = true; }
      }
      ctx.stroke();
      if (l.dot && l.xs.length) {
        const i = l.xs.length - 1;
        if (Number.isFinite(l.ys[i])) {
          ctx.setLineDash([]);
          ctx.beginPath();
          ctx.arc(px(l.xs[i]), py(l.ys[i]), 4, 0, 2 * Math.PI);
          ctx.fillStyle = l.color;
          ctx.fill();
        }
      }
    }
    ctx.setLineDash([]);
    // legend
    const entries = bars ? bars.series : lines.filter((l) => l.label);
    let lx = box.x + 6;
    let ly = box.y + 10;
    ctx.textAlign = "left";
    for (const e of entries) {
      const w = 18 + ctx.measureText(e.label).width;
      if (lx + w > box.x + box.w && lx > box.x + 6) { lx = box.x + 6; ly += 13; } // wrap
      ctx.fillStyle = e.color;
      ctx.fillRect(lx, ly - 5, 10, 3);
      ctx.fillStyle = fg;
      ctx.fillText(e.label, lx + 13, ly);
      lx += w;
    }
    this.canvas.setAttribute("aria-label", `${this.title}. ${this.describe(lines, bars)}`);
  }

  describe(lines, bars) {
    if (bars) return bars.series.map((s) => `${s.label}: ${s.ys.map((y) => y.toFixed(2)).join(", ")}`).join("; ");
    return lines.filter((l) => l.label && l.ys.length).map((l) => {
      const y = l.ys[l.ys.length - 1];
      return `${l.label}: latest ${Number.isFinite(y) ? y.toFixed(3) : "none"}`;
    }).join("; ");
  }
}

function fmt(x) { return Math.abs(x) >= 100 ? x.toFixed(0) : Number(x.toPrecision(3)).toString(); }

// ------------------------------------------------------------------ the widget

export default async function mount(root) {
  const form = root.querySelector("form.am-pg__controls");
  const staticFigure = root.querySelector(".am-pg__static");
  const liveEl = root.querySelector(".am-pg__live");
  const stepEl = root.querySelector("[data-pg-step]");
  const buttons = Object.fromEntries([...form.querySelectorAll("button[data-action]")].map((b) => [b.dataset.action, b]));
  const key = root.id || NAME;
  const state = {
    rows: [], // per run: every row received (start row included)
    describe: null,
    playing: false,
    inflight: false,
    generation: 0, // bumped by every reset; answers from an older generation are dropped
    updates: 0, // answers applied (each is one chart update)
    draws: 0, // frames drawn
    drawTimes: [],
    updateTimes: [],
  };
  root.amPlayground = state;

  const live = (message) =>
    ask({ live: NAME, message: JSON.stringify({ key, ...message }) }).then((answer) => {
      if (!answer.ok) throw new Error(answer.error);
      return answer;
    });

  function params() {
    const out = {};
    for (const el of form.elements) {
      if (!el.name) continue;
      out[el.name] = el.type === "range" ? Number(el.value) : el.value;
    }
    return out;
  }

  function showValue(el) {
    const out = form.querySelector(`output[data-value-for="${el.name}"]`);
    if (out) out.textContent = el.value;
    el.setAttribute("aria-valuetext", el.value);
  }

  // ---- shareable state: ?<id>.<name>=<value>#<id>, validated by Python like other widgets
  const prefix = `${key}.`;
  const raw = {};
  for (const [k, v] of new URLSearchParams(location.search)) if (k.startsWith(prefix)) raw[k.slice(prefix.length)] = v;
  if (Object.keys(raw).length) {
    const answer = await ask({ validate: NAME, raw });
    if (answer.ok) {
      for (const el of form.elements) {
        if (el.name && el.name in answer.params) { el.value = String(answer.params[el.name]); }
      }
    }
  }
  const share = Object.assign(document.createElement("a"), {
    className: "am-share",
    textContent: "Link to these settings",
    title: "A link that opens the playground with the current settings",
  });
  form.after(share);
  function updateShare() {
    const url = new URL(location.href);
    for (const k of [...url.searchParams.keys()]) if (k.startsWith(prefix)) url.searchParams.delete(k);
    for (const [name, value] of Object.entries(params())) url.searchParams.set(prefix + name, String(value));
    url.hash = key;
    share.href = url.href;
  }
  share.addEventListener("click", (event) => {
    event.preventDefault();
    history.replaceState(history.state, "", share.href);
    if (navigator.clipboard) navigator.clipboard.writeText(share.href).catch(() => {});
  });

  // ---- charts
  const readout = document.createElement("p");
  readout.className = "am-pg__readout";
  readout.setAttribute("aria-live", "off");
  const charts = {
    reward: new Chart(liveEl, "Proxy (dashed) and true reward", "step", "reward"),
    frontier: new Chart(liveEl, "True reward against KL: the frontier", "KL to the reference (nats)", "true reward"),
    kl: new Chart(liveEl, "KL to the reference", "step", "nats"),
    loss: new Chart(liveEl, "Training loss", "step", "loss"),
    accuracy: new Chart(liveEl, "Reward accuracy on the labelled pairs", "step", "accuracy"),
    policy: new Chart(liveEl, "Policy on prompt 1 (responses 1–8)", "response", "probability"),
  };
  liveEl.after(readout);

  let frame = 0;
  function scheduleDraw() {
    if (!frame) frame = requestAnimationFrame(draw);
  }

  function draw() {
    frame = 0;
    const d = state.describe;
    if (!d) return;
    const t0 = performance.now();
    const labels = d.methods.map((m) => d.labels[m].split(" (")[0]);
    const series = (key) => state.rows.map((rows, i) => ({
      label: labels[i], xs: rows.map((r) => r.step), ys: rows.map((r) => r[key] ?? NaN), color: COLORS[i],
    }));
    charts.reward.draw({ lines: state.rows.flatMap((rows, i) => [
      { label: `${labels[i]} proxy`, xs: rows.map((r) => r.step), ys: rows.map((r) => r.proxy), color: COLORS[i], dash: true },
      { label: `${labels[i]} true`, xs: rows.map((r) => r.step), ys: rows.map((r) => r.true), color: COLORS[i] },
    ]) });
    charts.frontier.draw({ lines: state.rows.map((rows, i) => ({
      label: labels[i], xs: rows.map((r) => r.kl), ys: rows.map((r) => r.true), color: COLORS[i], dot: true,
    })) });
    charts.kl.draw({ lines: series("kl"), yMin: 0 });
    charts.loss.draw({ lines: series("loss") });
    charts.accuracy.draw({ lines: series("accuracy"), yMin: 0, yMax: 1 });
    charts.policy.draw({ bars: {
      categories: d.responses,
      series: [
        { label: "reference", ys: d.reference, color: "#8c8c8c" },
        ...state.rows.map((rows, i) => ({ label: labels[i], ys: rows[rows.length - 1].policy, color: COLORS[i] })),
        { label: "π* of the proxy", ys: d.target, color: "#b07aa1" },
      ],
    }, yMin: 0 });
    const step = state.rows.length ? state.rows[0][state.rows[0].length - 1].step : 0;
    stepEl.textContent = `step ${step}`;
    readout.textContent = state.rows.map((rows, i) => {
      const r = rows[rows.length - 1];
      return `${labels[i]}: proxy ${r.proxy.toFixed(3)}, true ${r.true.toFixed(3)}, KL ${r.kl.toFixed(3)} nats`;
    }).join(" · ");
    state.draws++;
    state.drawTimes.push(performance.now() - t0);
    if (state.drawTimes.length > 500) state.drawTimes.shift();
  }

  function start(describe) {
    state.describe = describe;
    state.rows = describe.start.map((row) => [row]);
    scheduleDraw();
  }

  function apply(rows) {
    rows.forEach((runRows, i) => { state.rows[i].push(...runRows); });
    state.updates++;
    state.updateTimes.push(performance.now());
    if (state.updateTimes.length > 500) state.updateTimes.shift();
    scheduleDraw();
  }

  function fail(error) {
    state.playing = false;
    setButtons();
    root.dataset.state = "error";
    const status = root.querySelector(":scope > .am-widget__status");
    if (status) status.textContent = `The playground stopped: ${String(error.message || error)}`;
  }

  function pump() {
    if (!state.playing || state.inflight) return;
    state.inflight = true;
    const generation = state.generation;
    live({ op: "step", steps: Number(form.elements.speed.value) }).then((answer) => {
      state.inflight = false;
      if (generation !== state.generation) { pump(); return; }
      apply(answer.rows);
      // at most one update per frame: the next step is asked for when this one is drawn
      requestAnimationFrame(pump);
    }, (error) => { state.inflight = false; fail(error); });
  }

  function setButtons() {
    buttons.play.textContent = state.playing ? "Pause" : "Play";
    buttons.play.setAttribute("aria-pressed", state.playing ? "true" : "false");
    root.dataset.playing = state.playing ? "true" : "false";
  }

  async function reset(op = "reset", restart = true) {
    if (restart) state.generation++; // drop whatever is in flight for the old runs
    const answer = await live({ op, params: params() });
    if (op === "reset" || answer.reset) start(answer.describe);
    else state.describe = answer.describe;
    updateShare();
    scheduleDraw();
  }

  buttons.play.addEventListener("click", () => {
    state.playing = !state.playing;
    setButtons();
    pump();
  });
  buttons.step.addEventListener("click", () => {
    if (state.playing || state.inflight) return;
    state.inflight = true;
    const generation = state.generation;
    live({ op: "step", steps: 1 }).then((answer) => {
      state.inflight = false;
      if (generation === state.generation) apply(answer.rows);
    }, (error) => { state.inflight = false; fail(error); });
  });
  buttons.reset.addEventListener("click", () => { reset("reset").catch(fail); });

  let resetNames = [];
  form.addEventListener("submit", (event) => event.preventDefault());
  form.addEventListener("input", (event) => { if (event.target.type === "range") showValue(event.target); });
  form.addEventListener("change", (event) => {
    const name = event.target.name;
    if (!name) return;
    if (name === "speed") { updateShare(); return; }
    // beta, lr and clip apply from the next step; anything else starts the runs again
    reset("set", resetNames.includes(name)).catch(fail);
  });

  await reset("reset");
  resetNames = state.describe.reset_params || [];
  for (const el of form.elements) { el.disabled = false; if (el.type === "range") showValue(el); }
  setButtons();
  staticFigure.style.display = "none"; // (Material styles figures display: flex, over [hidden])
  liveEl.hidden = false;
  form.hidden = false;
  scheduleDraw();
  if (location.hash === `#${key}`) root.scrollIntoView();
  new ResizeObserver(() => scheduleDraw()).observe(liveEl);
  // the charts take their colours from Material's light/dark scheme when drawn
  new MutationObserver(() => scheduleDraw())
    .observe(document.body, { attributes: true, attributeFilter: ["data-md-color-scheme"] });
}
