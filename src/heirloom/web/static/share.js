// The public share page: turn the side-by-side comparison image into the before/after slider.
// Nothing here needs a key: the page's own link is the permission.

import { sliderFromComparison } from "./slider.js";

const source = document.querySelector("figure.compare-source");
const img = source && source.querySelector("img");

function upgrade() {
  // The slider reuses the loaded image's URL; the browser keeps its bytes for this page.
  if (img.naturalWidth > 0) source.replaceWith(sliderFromComparison(img, "The shared photo"));
}

if (img) {
  if (img.complete) upgrade();
  else img.addEventListener("load", upgrade, { once: true });
  // On an error the plain side-by-side image's alt text stays, which says the same.
}
