// The research map (chapter 11): hover, focus and keyboard navigation over the static SVG
// that widgets/alignment_widgets/research_map.py renders.  No Python is needed here.
//
// Keys, once a node has focus: Arrow Right/Down = next direction, Arrow Left/Up = previous,
// Home/End = first/last, Enter or Space = step through the focused node's connections,
// Escape = clear the highlight.  The summary is announced through an aria-live region.

import { rovingTarget } from "./roving.js";

export default function mount(root) {
  const nodes = Array.from(root.querySelectorAll("[data-node]"));
  const edges = Array.from(root.querySelectorAll("[data-edge]"));
  const summary = root.querySelector("[data-summary]");
  if (!nodes.length || !summary) {
    root.dataset.state = "error";
    return;
  }
  const byId = new Map(nodes.map((n) => [n.dataset.node, n]));
  const idle = summary.textContent;
  const neighbourStep = new Map();

  const label = (node) => node.querySelector("text")?.textContent ?? node.dataset.node;
  const neighbours = (node) => (node.dataset.neighbours || "").split(" ").filter((id) => byId.has(id));

  function show(node) {
    const ids = new Set([node.dataset.node, ...neighbours(node)]);
    for (const n of nodes) {
      n.style.opacity = ids.has(n.dataset.node) ? "1" : "0.3";
      n.classList.toggle("rm-active", n === node);
      const rect = n.querySelector("rect");
      if (rect) rect.setAttribute("stroke-width", n === node ? "3" : "1.5");
    }
    for (const e of edges) {
      const [a, b] = e.dataset.edge.split(" ");
      const on = a === node.dataset.node || b === node.dataset.node;
      e.setAttribute("stroke-opacity", on ? "0.9" : "0.12");
      e.setAttribute("stroke-width", on ? "2.5" : "1.5");
    }
    const text = node.getAttribute("aria-label") || label(node);
    const linked = neighbours(node).map((id) => label(byId.get(id))).join(", ");
    summary.textContent = linked ? `${text} Connects to: ${linked}.` : text;
  }

  function clear() {
    for (const n of nodes) {
      n.style.opacity = "1";
      n.classList.remove("rm-active");
      n.querySelector("rect")?.setAttribute("stroke-width", "1.5");
    }
    for (const e of edges) {
      e.setAttribute("stroke-opacity", "0.35");
      e.setAttribute("stroke-width", "1.5");
    }
    summary.textContent = idle;
  }

  function focusNode(node) {
    for (const n of nodes) n.setAttribute("tabindex", n === node ? "0" : "-1");
    node.focus();
  }

  nodes.forEach((node, i) => {
    // Roving tabindex: one Tab stop for the whole map, arrows move within it.
    node.setAttribute("tabindex", i === 0 ? "0" : "-1");
    node.setAttribute("role", "button");
    node.style.cursor = "pointer";
    node.addEventListener("mouseenter", () => show(node));
    node.addEventListener("mouseleave", () => {
      if (!root.contains(document.activeElement) || !document.activeElement.dataset?.node) clear();
    });
    node.addEventListener("focus", () => show(node));
    node.addEventListener("click", () => focusNode(node));
    node.addEventListener("keydown", (event) => {
      let target = rovingTarget(nodes, i, event.key);
      switch (event.key) {
        case "Enter":
        case " ": {
          const ids = neighbours(node);
          if (ids.length) {
            const k = neighbourStep.get(node) ?? 0;
            neighbourStep.set(node, (k + 1) % ids.length);
            target = byId.get(ids[k]);
          }
          break;
        }
        case "Escape":
          clear();
          event.preventDefault();
          return;
        default:
          if (!target) return;
      }
      event.preventDefault();
      if (target) focusNode(target);
    });
  });
  root.querySelector("svg")?.addEventListener("mouseleave", () => {
    if (!root.contains(document.activeElement)) clear();
  });
  root.dataset.state = "ready";
}
