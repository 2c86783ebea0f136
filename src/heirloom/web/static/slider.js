// The before/after slider: the "after" image over the "before" one, uncovered from the divider
// to the right. A native range input drives it, so it works with a mouse, touch and the
// keyboard (arrows, Page Up/Down, Home/End) and reads out its value to screen readers.

import { h } from "./ui.js";

/**
 * A slider figure. `before` and `after` are {src, crop}: crop {x, w} is the horizontal part
 * (in the image's pixels) to show, for two halves of one side-by-side image; without a crop
 * the whole image shows. `width`/`height` are the shown part's natural size.
 */
export function beforeAfter({ before, after, width, height, label = "Before and after" }) {
  const beforeImg = layerImage(before, width, "Before");
  const afterImg = layerImage(after, width, "After");
  const afterLayer = h("div", { class: "layer after-layer" }, afterImg);
  const divider = h("div", { class: "divider", "aria-hidden": "true" });
  const input = h("input", {
    type: "range",
    min: "0",
    max: "100",
    step: "1",
    value: "50",
    "aria-label": `${label}: slide to compare`,
  });
  const figure = h(
    "figure",
    { class: "compare", style: `aspect-ratio: ${width} / ${height}` },
    h("div", { class: "layer before-layer" }, beforeImg),
    afterLayer,
    divider,
    h("span", { class: "tag before", "aria-hidden": "true" }, "Before"),
    h("span", { class: "tag after", "aria-hidden": "true" }, "After"),
    input,
  );
  // Never wider than the image itself, nor taller than most of the window.
  figure.style.width = `min(100%, ${width}px, calc(75vh * ${width} / ${height}))`;
  const show = () => {
    const at = Number(input.value);
    afterLayer.style.clipPath = `inset(0 0 0 ${at}%)`;
    divider.style.left = `${at}%`;
    input.setAttribute("aria-valuetext", `${at}% before, ${100 - at}% after`);
    figure.dataset.position = String(at);
  };
  input.addEventListener("input", show);
  show();
  return figure;
}

function layerImage({ src, crop }, shownWidth, alt) {
  const img = h("img", { src, alt, draggable: false });
  if (crop) {
    // Percentages of the layer's width: scale the image so the crop fills it, then shift.
    img.style.width = `${(crop.full / crop.w) * 100}%`;
    img.style.left = `${(-crop.x / crop.w) * 100}%`;
  } else {
    img.style.width = "100%";
    img.style.left = "0";
  }
  return img;
}

/** Load an image and resolve to it once its natural size is known. */
export function loadImage(src) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("The image could not be loaded."));
    img.src = src;
  });
}

// The comparison image is before | divider | after at one height (services/imaging.py).
const COMPARISON_DIVIDER_PX = 4;

/** A slider from a side-by-side comparison image already loaded in `img`. */
export function sliderFromComparison(img, label) {
  const full = img.naturalWidth;
  const half = Math.max(1, Math.floor((full - COMPARISON_DIVIDER_PX) / 2));
  return beforeAfter({
    before: { src: img.src, crop: { x: 0, w: half, full } },
    after: { src: img.src, crop: { x: full - half, w: half, full } },
    width: half,
    height: img.naturalHeight,
    label,
  });
}
