// Choosing what a page lists: a vehicle by its plate (an input with a
// datalist of the jurisdiction's plates), a unit or a state from a select
// refilled in the page's language.
import { listAll } from "./api.js";
import { el } from "./dom.js";

// loadPlates fills datalist with the plates of the user's vehicles and
// returns them as a map of plate to vehicle id.
export async function loadPlates(datalist) {
  const vs = await listAll("/api/v1/vehicles");
  datalist.replaceChildren(...vs.map((v) => el("option", { value: v.plate })));
  return new Map(vs.map((v) => [v.plate, v.id]));
}

// fillSelect (re)fills sel with a first, empty choice and items ({value,
// label}), keeping what was chosen.
export function fillSelect(sel, first, items) {
  const keep = sel.value;
  sel.replaceChildren(...[{ value: "", label: first }, ...items].map((it) => el("option", { value: String(it.value) }, it.label)));
  sel.value = keep;
}
