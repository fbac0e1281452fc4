// The RLHF pipeline (chapter 3): click, focus or keyboard selection of a training stage over
// the static SVG that widgets/alignment_widgets/rlhf_pipeline.py renders.  No Python here.
//
// A stage box carries data-stage, data-inputs, data-outputs and data-arrows (ids of boxes and
// arrows).  Selecting it marks its inputs (.is-input), outputs (.is-output) and arrows
// (.is-active), dims everything else (.is-dimmed) and shows only its panel.
// Keys on a stage: Enter/Space select it, Arrow Right/Down and Left/Up move to the next or
// previous stage (and select it), Home/End the first/last, Escape clears the selection.

import { rovingTarget } from "./roving.js";

export default function mount(root) {
  const stages = Array.from(root.querySelectorAll("[data-stage]"));
  const boxes = Array.from(root.querySelectorAll("[data-node]"));
  const arrows = Array.from(root.querySelectorAll("[data-arrow]"));
  const panels = Array.from(root.querySelectorAll("[data-panel]"));
  if (!stages.length || !panels.length) {
    root.dataset.state = "error";
    return;
  }
  const ids = (el, attr) => (el.getAttribute(attr) || "").split(" ").filter(Boolean);

  function clear() {
    for (const el of [...boxes, ...arrows]) {
      el.classList.remove("is-input", "is-output", "is-selected", "is-active", "is-dimmed");
    }
    for (const s of stages) s.setAttribute("aria-pressed", "false");
    for (const p of panels) p.hidden = false;
    root.dataset.selected = "";
  }

  function select(stage) {
    const inputs = new Set(ids(stage, "data-inputs"));
    const outputs = new Set(ids(stage, "data-outputs"));
    const active = new Set(ids(stage, "data-arrows"));
    for (const box of boxes) {
      const id = box.dataset.node;
      box.classList.toggle("is-selected", box === stage);
      box.classList.toggle("is-input", inputs.has(id));
      box.classList.toggle("is-output", outputs.has(id));
      box.classList.toggle("is-dimmed", box !== stage && !inputs.has(id) && !outputs.has(id));
    }
    for (const arrow of arrows) {
      const on = active.has(arrow.dataset.arrow);
      arrow.classList.toggle("is-active", on);
      arrow.classList.toggle("is-dimmed", !on);
    }
    for (const s of stages) s.setAttribute("aria-pressed", s === stage ? "true" : "false");
    for (const p of panels) p.hidden = p.dataset.panel !== stage.dataset.stage;
    root.dataset.selected = stage.dataset.stage;
  }

  stages.forEach((stage, i) => {
    // a button's name starts with the words it shows (WCAG 2.5.3, label in name)
    const shown = Array.from(stage.querySelectorAll("text"), (t) => t.textContent.trim()).join(" ").trim();
    const name = stage.getAttribute("aria-label") || "";
    if (shown && !name.toLowerCase().startsWith(shown.toLowerCase())) {
      stage.setAttribute("aria-label", name ? `${shown}: ${name}` : shown);
    }
    stage.setAttribute("tabindex", "0");
    stage.setAttribute("role", "button");
    stage.setAttribute("aria-pressed", "false");
    stage.addEventListener("click", () => {
      select(stage);
      stage.focus();
    });
    stage.addEventListener("focus", () => select(stage));
    stage.addEventListener("keydown", (event) => {
      const target = rovingTarget(stages, i, event.key);
      switch (event.key) {
        case "Enter":
        case " ":
          select(stage);
          event.preventDefault();
          return;
        case "Escape":
          clear();
          event.preventDefault();
          return;
        default:
          if (!target) return;
      }
      event.preventDefault();
      target.focus();
    });
  });

  // The panels' headings sit one level below the section the widget is in.
  let level = 2;
  for (let el = root; el; el = el.previousElementSibling || el.parentElement) {
    const m = /^H([1-6])$/.exec(el.tagName);
    if (m && el !== root) { level = Number(m[1]) + 1; break; }
    if (el.classList && el.classList.contains("md-content__inner")) break;
  }
  for (const h of root.querySelectorAll("[data-panel] h1, [data-panel] h2, [data-panel] h3, [data-panel] h4, [data-panel] h5, [data-panel] h6")) {
    h.setAttribute("aria-level", String(Math.min(6, level)));
  }

  // Start with the first stage selected, so the highlighting is discoverable.
  select(stages[0]);
  root.dataset.state = "ready";
}
