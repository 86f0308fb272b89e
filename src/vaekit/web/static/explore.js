// Explore: the 2-D map of latent means (hover: the example; click: decode that point), sliders over
// the most informative latent dimensions, and the interpolation between two picked points.
import { $, api, el, fmt, labelOf, latestOnly, onRunChange, render, showError, state } from "./common.js";

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const PAD = 16, HIT = 12, SNAP = 40; // pixels: hover reach, and click reach on a projected map
let map = null, sx = null, sy = null, bounds = null;
let current = null; // { z: number[], index: number | null }
let picks = [];
let hover = -1;

const colour = (label) => (label === null || label === undefined ? "#2f6fdb" : label < 10 ? PALETTE[label] : `hsl(${(label * 47) % 360} 60% 45%)`);

function layout(canvas) {
  const W = canvas.width, H = canvas.height;
  const lo = (a) => Math.min(...a), hi = (a) => Math.max(...a);
  let [x0, x1, y0, y1] = [lo(map.x), hi(map.x), lo(map.y), hi(map.y)];
  if (x1 === x0) { x0 -= 1; x1 += 1; }
  if (y1 === y0) { y0 -= 1; y1 += 1; }
  bounds = { x0, x1, y0, y1, W, H };
  sx = Float32Array.from(map.x, (v) => PAD + ((v - x0) / (x1 - x0)) * (W - 2 * PAD));
  sy = Float32Array.from(map.y, (v) => H - PAD - ((v - y0) / (y1 - y0)) * (H - 2 * PAD));
}

function toData(px, py) {
  const { x0, x1, y0, y1, W, H } = bounds;
  return [x0 + ((px - PAD) / (W - 2 * PAD)) * (x1 - x0), y0 + ((H - PAD - py) / (H - 2 * PAD)) * (y1 - y0)];
}

function draw() {
  const canvas = $("#map"), g = canvas.getContext("2d");
  g.clearRect(0, 0, canvas.width, canvas.height);
  if (!map) return;
  const r = map.n > 3000 ? 1.5 : map.n > 500 ? 2.5 : 3.5;
  for (let i = 0; i < map.n; i++) {
    g.fillStyle = colour(map.labels ? map.labels[i] : null);
    g.fillRect(sx[i] - r, sy[i] - r, 2 * r, 2 * r);
  }
  const ring = (i, c) => { g.strokeStyle = c; g.lineWidth = 2; g.beginPath(); g.arc(sx[i], sy[i], 7, 0, 2 * Math.PI); g.stroke(); };
  for (const i of picks) ring(i, "#000");
  if (current && current.index !== null) ring(current.index, "#b3261e");
  if (hover >= 0) ring(hover, "#555");
}

function nearest(px, py, radius = HIT) {
  let best = -1, bestD = radius * radius;
  for (let i = 0; i < map.n; i++) {
    const d = (sx[i] - px) ** 2 + (sy[i] - py) ** 2;
    if (d < bestD) { bestD = d; best = i; }
  }
  return best;
}

function pointer(ev) {
  const c = $("#map"), rect = c.getBoundingClientRect();
  return [((ev.clientX - rect.left) * c.width) / rect.width, ((ev.clientY - rect.top) * c.height) / rect.height];
}

const decode = latestOnly(async () => {
  const body = { run: state.run, z: current.z };
  const label = labelOf("#explore-label");
  if (label !== undefined) body.label = label;
  render($("#decoded"), await api("/api/decode", { body }), { vertical: true });
});

function drawSliders() {
  const box = $("#sliders");
  box.replaceChildren(el("h3", { text: "Latent dimensions, most informative first (values in prior standard deviations)" }));
  for (const { dim, score } of map.dims) {
    const loc = map.prior_loc[dim], scale = map.prior_scale[dim];
    const v = (current.z[dim] - loc) / scale;
    const out = el("output", { text: v.toFixed(2) });
    const input = el("input", { type: "range", min: -3, max: 3, step: 0.05, value: v, "data-dim": dim, "aria-label": `z[${dim}]` });
    input.addEventListener("input", () => {
      current.z[dim] = loc + Number(input.value) * scale;
      out.textContent = Number(input.value).toFixed(2);
      decode();
    });
    box.append(el("div", { class: "slider" }, el("span", { text: `z[${dim}] · ${map.score_kind} ${fmt(score, 3)}` }), input, out));
  }
}

function setCurrent(z, index, caption) {
  current = { z, index };
  $("#decoded-caption").textContent = caption;
  drawSliders();
  draw();
  decode();
}

async function interpolate(i) {
  picks.push(i);
  draw();
  if (picks.length < 2) { $("#decoded-caption").textContent = `picked example ${i}: pick a second point`; return; }
  const [a, b] = picks;
  picks = [];
  const out = await api("/api/interpolate", { body: { run: state.run, a, b, steps: 8, mode: $("#interp-kind").value } });
  render($("#interp-out"), out);
  $("#decoded-caption").textContent = `interpolated (${out.mode}) from example ${a} to example ${b}; pick two more, or untick to decode`;
  draw();
}

async function click(ev) {
  if (!map) return;
  const [px, py] = pointer(ev);
  const i = nearest(px, py, map.method === "direct" ? HIT : SNAP);
  if ($("#interp-mode").checked) {
    if (i < 0) { showError("pick a point on the map (click closer to one)"); return; }
    await interpolate(i).catch(() => {});
    return;
  }
  if (map.method === "direct" && i < 0) { // a 2-D latent: any place on the map is a latent vector
    const [u, v] = toData(px, py);
    setCurrent(map.latent_dim === 1 ? [u] : [u, v], null, `z = (${fmt(u, 3)}, ${fmt(v, 3)})`);
    return;
  }
  if (i < 0) { showError("click on a point of the map to decode it"); return; }
  const p = await api("/api/point", { params: { run: state.run, index: i } });
  if (p.label !== null && state.details.classes) $("#explore-label").value = p.label;
  setCurrent(p.z, i, `${map.split} example ${i}${p.label !== null ? `, label ${nameOf(p.label)}` : ""}: its latent mean, decoded`);
}

const nameOf = (label) => (map.class_names && map.class_names[label] !== undefined ? map.class_names[label] : String(label));

function move(ev) {
  if (!map) return;
  const [px, py] = pointer(ev);
  const i = nearest(px, py);
  const tip = $("#map-tip");
  if (i !== hover) { hover = i; draw(); }
  if (i < 0) { tip.hidden = true; return; }
  const label = map.labels ? `label ${nameOf(map.labels[i])}` : "";
  const kids = [el("div", { text: `#${i} ${label}` })];
  if (state.details.kind === "image") kids.unshift(el("img", { src: `/api/example.png?${new URLSearchParams({ run: state.run, index: i })}`, alt: `example ${i}` }));
  tip.replaceChildren(...kids);
  tip.style.left = `${Math.min(sx[i] + 14, $("#map").width - 100)}px`;
  tip.style.top = `${Math.max(sy[i] - 40, 0)}px`;
  tip.hidden = false;
}

export async function loadMap() {
  if (!state.run) return;
  const run = state.run;
  map = null;
  draw();
  $("#sliders").replaceChildren();
  $("#interp-out").replaceChildren();
  $("#decoded").replaceChildren();
  $("#map-caption").textContent = "computing the map (cached for next time)…";
  let m;
  try {
    m = await api("/api/explore", { params: { run } });
  } catch (e) {
    if (run === state.run) $("#map-caption").textContent = "no map for this run: see the message above";
    throw e;
  }
  if (run !== state.run) return;
  map = { ...m, run };
  layout($("#map"));
  $("#map-caption").textContent = `${m.n} ${m.split} examples · ${m.method === "pca" ? "PCA of" : ""} ${m.latent_dim}-D latent means · x: ${m.axis_names[0]}, y: ${m.axis_names[1]}`;
  const names = m.labels ? [...new Set(m.labels)].sort((a, b) => a - b) : [];
  $("#legend").replaceChildren(...names.map((l) => el("span", { style: `--c:${colour(l)}`, text: nameOf(l) })));
  draw();
  await state.ready; // the run's details (its label picker) come side by side with the map
  if (run !== state.run) return;
  setCurrent([...m.prior_loc], null, "the prior mean, decoded: move the sliders, or click the map");
}

export function initExplore() {
  const c = $("#map");
  c.addEventListener("mousemove", move);
  c.addEventListener("mouseleave", () => { hover = -1; $("#map-tip").hidden = true; draw(); });
  c.addEventListener("click", (ev) => click(ev).catch(() => {}));
  $("#explore-label").addEventListener("change", () => current && decode());
  $("#interp-mode").addEventListener("change", () => { picks = []; draw(); });
  onRunChange((d) => {
    if (map && map.run === d.name) return; // fetched side by side with the details
    map = null; current = null; picks = [];
    draw();
    $("#sliders").replaceChildren(); $("#interp-out").replaceChildren(); $("#decoded").replaceChildren();
  });
}
