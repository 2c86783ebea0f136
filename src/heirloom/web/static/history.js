// History: the caller's jobs, newest first, with thumbnails, status and a status filter.

import { api, blobUrl } from "./api.js";
import { badge, fill, h, operationName, when } from "./ui.js";

const PAGE = 24;
const STATUSES = ["queued", "running", "completed", "failed", "cancelled", "expired", "deleted"];

export async function historyPage(main, { navigate }) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const status = STATUSES.includes(params.get("status")) ? params.get("status") : "";
  const offset = Math.max(0, Number(params.get("offset")) || 0);
  const query = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
  if (status) query.set("status", status);
  const { jobs } = await api(`/v1/jobs?${query}`);
  const urls = [];

  const go = (next) => {
    const q = new URLSearchParams();
    if (next.status) q.set("status", next.status);
    if (next.offset) q.set("offset", String(next.offset));
    const query = q.toString();
    navigate(`#/history${query ? `?${query}` : ""}`);
  };
  const filter = h(
    "select",
    { id: "status-filter", onchange: () => go({ status: filter.value, offset: 0 }) },
    h("option", { value: "" }, "All"),
    STATUSES.map((s) => h("option", { value: s, selected: s === status }, s)),
  );

  const items = jobs.map((job) => {
    const thumb = h("div", { class: "thumb" }, job.thumbnail_url ? "Loading…" : "No preview");
    if (job.thumbnail_url) {
      blobUrl(job.thumbnail_url)
        .then((url) => {
          urls.push(url);
          thumb.replaceWith(h("img", { class: "thumb", src: url, alt: "" }));
        })
        .catch(() => fill(thumb, "No preview"));
    }
    return h(
      "li",
      {},
      h(
        "a",
        { href: `#/jobs/${encodeURIComponent(job.id)}`, dataset: { jobId: job.id } },
        thumb,
        h("p", {}, h("strong", {}, operationName(job.operations)), " ", badge(job.status)),
        h("p", { class: "muted" }, when(job.created_at)),
      ),
    );
  });

  fill(
    main,
    h("h1", {}, "Your photos"),
    h("div", { class: "row" }, h("label", { for: "status-filter" }, "Show"), filter),
    jobs.length
      ? h("ul", { class: "history", "aria-label": "Jobs" }, items)
      : h("p", { class: "muted" }, status ? `No ${status} jobs.` : "No photos yet: upload one."),
    h(
      "p",
      { class: "row" },
      offset > 0
        ? h(
            "button",
            {
              type: "button",
              class: "secondary",
              onclick: () => go({ status, offset: Math.max(0, offset - PAGE) }),
            },
            "Newer",
          )
        : null,
      jobs.length === PAGE
        ? h(
            "button",
            {
              type: "button",
              class: "secondary",
              onclick: () => go({ status, offset: offset + PAGE }),
            },
            "Older",
          )
        : null,
    ),
  );
  return () => urls.forEach((url) => URL.revokeObjectURL(url));
}
