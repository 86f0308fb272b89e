// Check an input: upload an image (or paste a table row) for its reconstruction, anomaly score,
// flag and per-pixel map; paint a mask over the image (or leave cells empty) and inpaint.
import { $, api, el, fmt, labelOf, onRunChange, render, rowsTable, showError, state } from "./common.js";

let image = null; // the input as a data URL
let mask = null; // Uint8Array(H*W): 1 observed, 0 missing (painted)
let painting = false;

function inputBody() {
  const body = { run: state.run };
  if (state.details.kind === "image") {
    body.image = image;
    body.invert = $("#check-invert").checked;
  } else {
    body.row = $("#check-row").value;
  }
  const label = labelOf("#check-label");
  if (label !== undefined) body.label = label;
  return body;
}

function figure(url, caption) {
  return el("figure", {}, el("img", { src: url, alt: caption }), el("figcaption", { text: caption }));
}

async function check() {
  if (state.details.kind === "image" && !image) return;
  const r = await api("/api/check", { body: inputBody() });
  $("#check-result").hidden = false;
  const score = $("#check-score");
  score.replaceChildren(`score ${fmt(r.score, 5)} nats · ${r.score_kind}`);
  if (r.flag !== null) {
    score.append(" ", el("span", { class: `flag ${r.flag ? "anomalous" : "normal"}`, text: r.flag ? "anomalous" : "normal" }));
    score.append(el("span", { class: "caption", text: ` threshold ${fmt(r.threshold, 5)}` }));
  }
  $("#check-note").textContent = r.note || (r.fit_stats ? `normal data: median ${fmt(r.fit_stats.median)}, 99th percentile ${fmt(r.fit_stats.q99)}` : "");
  if (state.details.kind === "image") {
    $("#check-images").replaceChildren(
      figure(r.input.images[0], "input (as the model sees it)"),
      figure(r.reconstruction.images[0], "reconstruction"),
      figure(r.map, `per-pixel −log p(x|z), max ${fmt(r.map_max, 3)} nats`),
    );
    $("#check-table").replaceChildren();
    resetMask(r.input.images[0]);
  } else {
    $("#check-images").replaceChildren();
    const cols = r.input.columns;
    $("#check-table").replaceChildren(el("div", { class: "scroll" }, rowsTable(cols, [r.input.rows[0], r.reconstruction.rows[0], r.map], ["input", "reconstruction", "−log p (nats)"])));
  }
  $("#inpaint-box").hidden = false;
}

// ---- the mask painter: the input enlarged on a canvas, painted cells drawn red (missing)

let shown = null; // the input image element drawn under the mask

function resetMask(url) {
  const [, h, w] = state.details.shape;
  mask = new Uint8Array(h * w).fill(1);
  shown = new Image();
  shown.onload = drawMask;
  shown.src = url;
}

function drawMask() {
  const c = $("#mask-canvas"), g = c.getContext("2d");
  const [, h, w] = state.details.shape;
  g.imageSmoothingEnabled = false;
  g.clearRect(0, 0, c.width, c.height);
  if (shown && shown.complete) g.drawImage(shown, 0, 0, c.width, c.height);
  g.fillStyle = "rgba(230, 40, 40, 0.75)";
  for (let i = 0; i < h * w; i++) {
    if (!mask[i]) g.fillRect(((i % w) * c.width) / w, (Math.floor(i / w) * c.height) / h, c.width / w, c.height / h);
  }
}

function paint(ev) {
  if (!painting || !mask) return;
  const c = $("#mask-canvas"), rect = c.getBoundingClientRect();
  const [, h, w] = state.details.shape;
  const col = Math.floor(((ev.clientX - rect.left) / rect.width) * w), row = Math.floor(((ev.clientY - rect.top) / rect.height) * h);
  const r = Number($("#brush").value) - 1;
  for (let y = row - r; y <= row + r; y++) {
    for (let x = col - r; x <= col + r; x++) if (x >= 0 && y >= 0 && x < w && y < h) mask[y * w + x] = 0;
  }
  drawMask();
}

async function inpaint() {
  const body = { ...inputBody(), method: $("#inpaint-method").value, steps: Number($("#inpaint-steps").value) };
  if (state.details.kind === "image") {
    if (!image) { showError("upload an image first"); return; }
    body.mask = Array.from(mask);
  }
  const r = await api("/api/inpaint", { body });
  const out = $("#inpaint-out");
  if (state.details.kind === "image") {
    render(out, r.restored);
  } else {
    out.replaceChildren(el("div", { class: "scroll" }, rowsTable(r.input.columns, [r.input.rows[0], r.restored.rows[0]], ["given", "filled"])));
  }
  const rate = r.acceptance !== undefined ? `, acceptance ${fmt(r.acceptance, 2)}` : "";
  $("#inpaint-caption").textContent = `restored: ${r.missing} entries filled${rate}`;
}

function readFile(file) {
  return new Promise((resolve, reject) => {
    const fr = new FileReader();
    fr.onload = () => resolve(fr.result);
    fr.onerror = () => reject(fr.error);
    fr.readAsDataURL(file);
  });
}

async function useExample() {
  const map = await api("/api/explore", { params: { run: state.run } });
  const index = Math.floor(Math.random() * map.n);
  if (state.details.kind === "image") {
    const r = await fetch(`/api/example.png?${new URLSearchParams({ run: state.run, index })}`, { credentials: "same-origin" });
    image = await readFile(await r.blob());
    $("#check-invert").checked = false;
  } else {
    const p = await api("/api/point", { params: { run: state.run, index } });
    $("#check-row").value = p.rows[0].map((v) => (v === null ? "" : v)).join(", ");
  }
  if (state.details.classes && map.labels) $("#check-label").value = map.labels[index];
  await check();
}

export function initCheck() {
  $("#check-file").addEventListener("change", async (ev) => {
    const f = ev.target.files[0];
    if (!f) return;
    image = await readFile(f);
    $("#check-result").hidden = true; // a failed check leaves no stale result beside its message
    $("#inpaint-box").hidden = true;
    await check().catch(() => {});
  });
  $("#check-invert").addEventListener("change", () => check().catch(() => {}));
  $("#check-label").addEventListener("change", () => check().catch(() => {}));
  $("#check-row-go").addEventListener("click", () => check().catch(() => {}));
  $("#check-example").addEventListener("click", () => useExample().catch(() => {}));
  $("#inpaint-go").addEventListener("click", () => inpaint().catch(() => {}));
  $("#mask-clear").addEventListener("click", () => { if (mask) { mask.fill(1); drawMask(); } });
  const c = $("#mask-canvas");
  c.addEventListener("mousedown", (ev) => { painting = true; paint(ev); });
  c.addEventListener("mousemove", paint);
  window.addEventListener("mouseup", () => { painting = false; });
  onRunChange((d) => {
    image = null; mask = null;
    $("#check-result").hidden = true;
    $("#inpaint-box").hidden = true;
    $("#inpaint-out").replaceChildren();
    $("#check-file").value = "";
    $("#check-row").value = "";
    if (d.columns) {
      $("#check-columns").textContent = `columns: ${d.columns.join(", ")}`;
      $("#check-row").placeholder = d.columns.join(", ");
    }
  });
}
