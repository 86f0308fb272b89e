// What every part of the page shares: the server API, the message bar, the selected run.
// Every request goes to this server only (the Content-Security-Policy forbids anything else).

export const state = { runs: [], run: null, details: null, ready: null, listeners: [] };

export const $ = (sel) => document.querySelector(sel);

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k === "style") e.style.cssText = v; // CSSOM, which the page's CSP allows (a style attribute it does not)
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

let pending = 0;
function busy(delta) {
  pending += delta;
  $("#busy").hidden = pending <= 0;
}

export function showError(text) {
  const m = $("#message");
  m.textContent = text;
  m.hidden = !text;
}

// GET (params) or POST (body) a JSON API; an error status shows the server's message and throws.
export async function api(path, { params = null, body = null } = {}) {
  const url = params ? `${path}?${new URLSearchParams(params)}` : path;
  const init = body === null ? {} : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  busy(1);
  try {
    const r = await fetch(url, { credentials: "same-origin", ...init });
    const text = await r.text();
    let data = null;
    try { data = JSON.parse(text); } catch { data = { detail: text.slice(0, 300) }; }
    if (!r.ok) {
      const msg = `${r.status}: ${data && data.detail ? data.detail : r.statusText}`;
      showError(msg);
      throw new Error(msg);
    }
    showError("");
    return data;
  } finally {
    busy(-1);
  }
}

// Only the newest call runs after the one in flight: sliders send one request at a time.
export function latestOnly(fn) {
  let running = false, queued = null;
  return async function run(...args) {
    if (running) { queued = args; return; }
    running = true;
    try { await fn(...args); } catch { /* shown in the message bar */ }
    running = false;
    if (queued) { const a = queued; queued = null; run(...a); }
  };
}

export function onRunChange(fn) { state.listeners.push(fn); }

export async function selectRun(name) {
  state.run = name;
  $("#run-select").value = name;
  state.ready = api("/api/run", { params: { run: name } }); // others may wait for it (the map does)
  state.details = await state.ready;
  const d = state.details;
  $("#run-caption").textContent = `${d.data} · ${d.model.arch} · latent ${JSON.stringify(d.model.latent)} · ${d.model.likelihood}`;
  for (const s of document.querySelectorAll(".cond-only")) s.hidden = !d.classes;
  for (const s of document.querySelectorAll(".image-only")) s.hidden = d.kind !== "image";
  for (const s of document.querySelectorAll(".table-only")) s.hidden = d.kind === "image";
  for (const sel of document.querySelectorAll(".cond-only select")) {
    sel.replaceChildren(...Array.from({ length: d.classes }, (_, i) => el("option", { value: i, text: d.class_names[i] ?? String(i) })));
  }
  for (const fn of state.listeners) fn(d);
}

export function labelOf(selector) {
  return state.details && state.details.classes ? Number($(selector).value) : undefined;
}

// One image, or a table of rows, as the API returns it ({kind, images|grid|rows, columns}).
export function render(target, shown, { grid = false, vertical = false } = {}) {
  target.replaceChildren();
  if (shown.kind === "image") {
    const urls = grid ? [shown.grid] : shown.images;
    for (const u of urls) target.append(el("img", { src: u, alt: "decoded" }));
  } else if (vertical && shown.rows.length === 1) { // one row in a narrow place: a column per line
    target.append(rowsTable(["value"], shown.rows[0].map((v) => [v]), shown.columns));
  } else {
    target.append(el("div", { class: "scroll" }, rowsTable(shown.columns, shown.rows)));
  }
}

export function rowsTable(columns, rows, rowNames = null) {
  const t = el("table");
  t.append(el("tr", {}, ...(rowNames ? [el("th")] : []), ...columns.map((c) => el("th", { text: c }))));
  rows.forEach((r, i) => {
    t.append(el("tr", {}, ...(rowNames ? [el("th", { text: rowNames[i] })] : []),
      ...r.map((v) => el("td", { class: "num", text: v === null ? "" : fmt(v) }))));
  });
  return t;
}

export function fmt(v, digits = 4) {
  if (v === null || v === undefined) return "";
  return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : Number(v.toPrecision(digits)).toString();
}
