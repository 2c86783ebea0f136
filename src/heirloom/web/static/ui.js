// Building the page: elements from data (never from HTML strings), notices, formatting.

/** An element: h("p", {class: "x", onclick: fn}, "text", child, ...). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "style") {
      // Through the CSSOM: the page's Content-Security-Policy refuses style attributes.
      el.style.cssText = value;
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (name in el && typeof value !== "string") {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? "" : value);
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** Replace an element's content. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** An error box with the message the API gave (its `error.message`), read out at once. */
export function errorBox(err) {
  return h("p", { class: "error", role: "alert" }, messageOf(err));
}

export function messageOf(err) {
  return err && err.message ? err.message : String(err);
}

export function notice(text) {
  return h("p", { class: "notice", role: "status" }, text);
}

/** Run an action from a button: disable it meanwhile, show a failure in `where`. */
export async function act(button, where, action) {
  button.disabled = true;
  where.replaceChildren();
  try {
    return await action();
  } catch (err) {
    where.append(errorBox(err));
    return undefined;
  } finally {
    button.disabled = false;
  }
}

export function badge(text) {
  return h("span", { class: `badge ${text}` }, text.replaceAll("_", " "));
}

export function when(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function bytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i += 1;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function usd(n) {
  const value = Number(n || 0);
  // GPU seconds cost fractions of a cent: show them rather than $0.00.
  const digits = value !== 0 && Math.abs(value) < 0.1 ? 4 : 2;
  return `$${value.toFixed(digits)}`;
}

export function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

const STAGES = {
  queued: "Queued",
  reserving: "Reserving credits",
  preparing: "Preparing the photo",
  waiting_for_gpu: "Waiting for a GPU",
  processing: "Restoring on the GPU",
  postprocessing: "Finishing touches",
  finalizing: "Saving the result",
  done: "Done",
};

export function stageName(stage) {
  return STAGES[stage] || stage;
}

const OPERATIONS = {
  restore: "Restore",
  colorize: "Colourize",
  "restore,colorize": "Restore and colourize",
};

export function operationName(ops) {
  const key = Array.isArray(ops) ? ops.join(",") : ops;
  return OPERATIONS[key] || key;
}

/** Save a blob as a file through a temporary object URL. */
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
