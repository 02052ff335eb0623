// Building elements from data. Text from the server (names of fences,
// units and rules, plates) always goes in as text, never as HTML: a fence
// named "<img src=x onerror=…>" shows as those characters. Leaflet takes a
// tooltip, a popup or a divIcon's html as an HTML string or as an element:
// give it an element made here.

// el returns a new element tag: props are assigned to it (className,
// title, ...), but style (CSS properties, custom ones included) and dataset
// (data-* attributes), which are objects; children are nodes, or strings
// and numbers put in as text.
export function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "style") for (const [p, x] of Object.entries(v)) e.style.setProperty(p, x);
    else if (k === "dataset") Object.assign(e.dataset, v);
    else e[k] = v;
  }
  e.append(...children.map((c) => (typeof c === "object" ? c : String(c))));
  return e;
}

// textTip is text as the content of a Leaflet tooltip or popup.
export function textTip(text) {
  return el("span", {}, text);
}
