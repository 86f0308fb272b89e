// Generate: a grid of samples with temperature, seed, label and sampler controls.
import { $, api, el, latestOnly, onRunChange, render, state } from "./common.js";

const sample = latestOnly(async () => {
  if (!state.run) return;
  const params = {
    run: state.run,
    n: $("#gen-n").value,
    temperature: $("#gen-temperature").value,
    seed: $("#gen-seed").value || 0,
    sampler: $("#gen-sampler").value,
  };
  const label = $("#gen-label").value;
  if (state.details.classes && label !== "all") params.label = label;  // "all": the classes in turn
  const out = await api("/api/sample", { params });
  render($("#gen-out"), out, { grid: true });
});

export function initGenerate() {
  const t = $("#gen-temperature");
  t.addEventListener("input", () => { $("#gen-temperature-out").textContent = Number(t.value).toFixed(2); });
  for (const id of ["#gen-n", "#gen-temperature", "#gen-seed", "#gen-label", "#gen-sampler"]) $(id).addEventListener("change", sample);
  $("#gen-go").addEventListener("click", sample);
  $("#gen-reseed").addEventListener("click", () => { $("#gen-seed").value = Math.floor(Math.random() * 1e6); sample(); });
  onRunChange((d) => {
    $("#gen-out").replaceChildren();
    if (d.classes) $("#gen-label").prepend(el("option", { value: "all", text: "all, in turn" }));
    $("#gen-label").value = "all";
    const gmm = $("#gen-sampler option[value=gmm]");
    gmm.hidden = gmm.disabled = !d.has_sampler;
    if (!d.has_sampler) $("#gen-sampler").value = "prior";
  });
}

export const showSamples = sample;
