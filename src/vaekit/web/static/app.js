// vaekit serve: wires the tabs together. Plain ES modules, no framework, nothing from elsewhere.
import { $, selectRun, state } from "./common.js";
import { initCheck } from "./check.js";
import { initExplore, loadMap } from "./explore.js";
import { initGenerate, showSamples } from "./generate.js";
import { initRuns, loadRuns } from "./runs.js";

let tab = "runs";
const shown = { generate: null, explore: null }; // the run each tab last showed

async function refresh() {
  if (tab === "generate" && shown.generate !== state.run) { shown.generate = state.run; await showSamples(); }
  if (tab === "explore" && shown.explore !== state.run) { shown.explore = state.run; await loadMap().catch(() => { shown.explore = null; }); }
}

// Open a run: its details and, on the Explore tab, its map are fetched side by side.
async function openRun(name) {
  const details = selectRun(name);
  if (tab === "explore") {
    shown.explore = name;
    await Promise.all([details, loadMap().catch(() => { shown.explore = null; })]);
  } else {
    await details;
  }
}

function openTab(name) {
  tab = name;
  for (const b of document.querySelectorAll("#tabs button")) b.setAttribute("aria-selected", String(b.dataset.tab === name));
  for (const s of document.querySelectorAll("section.tab")) s.hidden = s.id !== `tab-${name}`;
  const q = new URLSearchParams(location.search);
  q.set("tab", name);
  if (state.run) q.set("run", state.run);
  history.replaceState(null, "", `?${q}`);
  refresh();
}

async function start() {
  initRuns();
  initGenerate();
  initExplore();
  initCheck();
  for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => openTab(b.dataset.tab));
  $("#run-select").addEventListener("change", async (ev) => {
    await openRun(ev.target.value);
    openTab(tab);
  });
  const runs = await loadRuns();
  const q = new URLSearchParams(location.search);
  const wanted = q.get("run");
  const first = runs.find((r) => r.name === wanted) ? wanted : runs.length ? runs[0].name : null;
  tab = q.get("tab") || "runs";
  if (first) await openRun(first);
  openTab(tab);
  document.body.dataset.ready = "1"; // the run is loaded and the controls are live
}

start().catch(() => {});
