// Runs: the sortable table of run directories and the loss curves of the selected one.
import { $, api, el, fmt, onRunChange, selectRun, state } from "./common.js";

let sortKey = "name", sortDir = 1;

function value(r, key) {
  if (key === "model") return `${r.model.arch} ${JSON.stringify(r.model.latent)}`;
  if (key === "eval_nll") return r.eval ? r.eval.nll ?? null : null;
  if (key === "eval_elbo") return r.eval ? r.eval.elbo ?? null : null;
  return r[key];
}

function drawTable() {
  const rows = [...state.runs].sort((a, b) => {
    const x = value(a, sortKey), y = value(b, sortKey);
    if (x === y) return 0;
    if (x === null || x === undefined) return 1;
    if (y === null || y === undefined) return -1;
    return (x < y ? -1 : 1) * sortDir;
  });
  const body = $("#runs-table tbody");
  body.replaceChildren(...rows.map((r) => {
    const m = r.model;
    const parts = [m.arch, `latent ${JSON.stringify(m.latent)}`, m.likelihood];
    if (m.prior !== "normal") parts.push(`${m.prior} prior`);
    if (m.posterior !== "diagonal") parts.push(m.posterior);
    if (m.objective !== "elbo") parts.push(m.objective);
    if (m.conditional) parts.push("conditional");
    const tr = el("tr", { "data-run": r.name, onclick: () => selectRun(r.name) },
      el("td", { text: r.name }), el("td", { text: r.data }), el("td", { text: parts.join(" · ") }),
      el("td", { class: "num", text: r.parameters === null ? "" : r.parameters.toLocaleString("en") }),
      el("td", { class: "num", text: `${r.epochs}/${r.epochs_planned}` }),
      el("td", { class: "num", text: fmt(r.best_val_elbo) }),
      el("td", { class: "num", text: fmt(value(r, "eval_nll")) }),
      el("td", { class: "num", text: fmt(value(r, "eval_elbo")) }),
      el("td", { text: r.has_detector ? "fitted" : "" }));
    if (r.name === state.run) tr.classList.add("selected");
    return tr;
  }));
  for (const th of document.querySelectorAll("#runs-table th")) {
    th.classList.toggle("sorted-asc", th.dataset.key === sortKey && sortDir > 0);
    th.classList.toggle("sorted-desc", th.dataset.key === sortKey && sortDir < 0);
  }
}

// A line chart of one or two series (SVG, drawn here: no charting library).
function chart(title, series) {
  const W = 420, H = 220, L = 52, R = 10, T = 22, B = 30;
  const pts = series.flatMap((s) => s.values.filter((v) => v !== null));
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("width", W); svg.setAttribute("height", H);
  const add = (tag, attrs, text) => {
    const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.append(e);
  };
  add("text", { x: L, y: 14 }, title);
  if (!pts.length) return svg;
  const n = Math.max(...series.map((s) => s.values.length));
  let lo = Math.min(...pts), hi = Math.max(...pts);
  if (hi === lo) { hi += 1; lo -= 1; }
  const sx = (i) => L + (n > 1 ? (i / (n - 1)) * (W - L - R) : 0);
  const sy = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
  add("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" });
  add("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" });
  add("text", { x: 4, y: sy(hi) + 4 }, fmt(hi, 4));
  add("text", { x: 4, y: sy(lo) + 4 }, fmt(lo, 4));
  add("text", { x: W - R - 40, y: H - 8 }, `epoch ${n}`);
  series.forEach((s, k) => {
    const d = s.values.map((v, i) => (v === null ? null : `${sx(i)},${sy(v)}`)).filter(Boolean).join(" ");
    add("polyline", { points: d, fill: "none", stroke: s.color, "stroke-width": 2 });
    add("text", { x: L + 8 + k * 150, y: T + 12, fill: s.color }, s.name);
  });
  return svg;
}

function drawCurves(d) {
  const c = d.curves || {};
  const neg = (xs) => (xs || []).map((v) => (v === null ? null : -v));
  $("#curves-run").textContent = d.name;
  $("#curves").replaceChildren(
    chart("loss (nats)", [
      { name: "train loss", values: c.loss || [], color: "#2f6fdb" },
      { name: "validation −ELBO", values: neg(c.val_elbo), color: "#d9822b" },
    ]),
    chart("KL (nats)", [
      { name: "train KL", values: c.kl || [], color: "#2f6fdb" },
      { name: "validation KL", values: c.val_kl || [], color: "#d9822b" },
    ]),
  );
  drawTable();
}

export async function loadRuns() {
  const data = await api("/api/runs");
  state.runs = data.runs;
  $("#root-caption").textContent = `${data.runs.length} run(s) under ${data.root}`;
  $("#broken-runs").textContent = data.broken.map((b) => `${b.name}: ${b.error}`).join(" · ");
  $("#run-select").replaceChildren(...data.runs.map((r) => el("option", { value: r.name, text: r.name })));
  drawTable();
  return data.runs;
}

export function initRuns() {
  for (const th of document.querySelectorAll("#runs-table th")) {
    th.addEventListener("click", () => {
      sortDir = sortKey === th.dataset.key ? -sortDir : 1;
      sortKey = th.dataset.key;
      drawTable();
    });
  }
  onRunChange(drawCurves);
}
