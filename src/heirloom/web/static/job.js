// A job: live stage, progress and queue position; cancel; when done the before/after slider
// with the quality check's words beside it, the download and share links; when failed, the
// reason in the API's words and a retry.

import { api, blobUrl, fetchBlob } from "./api.js";
import { isFinal, watchJob } from "./live.js";
import { beforeAfter, loadImage } from "./slider.js";
import {
  act,
  badge,
  errorBox,
  fill,
  h,
  notice,
  operationName,
  plural,
  saveBlob,
  stageName,
  when,
} from "./ui.js";

const MODES = {
  live: "Live updates",
  reconnecting: "Connection lost, reconnecting…",
  polling: "Updating every few seconds",
  ended: "",
};

export async function jobPage(main, { id, navigate, refreshMe }) {
  const path = `/v1/jobs/${encodeURIComponent(id)}`;
  const [pricing, first] = await Promise.all([api("/v1/pricing", { auth: false }), api(path)]);
  let job = first;
  const urls = [];

  const status = h("span");
  const stage = h("p", { id: "job-stage", role: "status", "aria-live": "polite" });
  const bar = h("progress", {
    id: "job-progress",
    max: "100",
    value: "0",
    "aria-labelledby": "job-stage",
  });
  const queue = h("p", { id: "job-queue", class: "muted" });
  const mode = h("p", { id: "job-connection", class: "muted" });
  const problems = h("div");
  const streamProblems = h("div");
  const cancel = h("button", { type: "button", class: "danger" }, "Cancel");
  const cancelTerms = h("span", { id: "job-cancel-terms", class: "muted" });
  const done = h("div", { id: "job-done" });
  let finished = false;

  cancel.addEventListener("click", () =>
    act(cancel, problems, async () => {
      render(await api(`${path}/cancel`, { method: "POST" }));
    }),
  );

  function render(state) {
    job = { ...job, ...state };
    fill(status, badge(job.status));
    const pct = job.status === "completed" ? 100 : job.progress;
    bar.value = pct;
    bar.setAttribute("aria-valuetext", `${pct}%`);
    fill(stage, isFinal(job.status) ? finalWords(job) : `${stageName(job.stage)} · ${pct}%`);
    fill(queue, queueWords(job));
    cancel.hidden = isFinal(job.status);
    cancelTerms.hidden = cancel.hidden;
    fill(cancelTerms, cancelWords(job, pricing.cancel_kept_percent));
    if (isFinal(job.status) && !finished) {
      finished = true;
      showEnding();
    }
  }

  async function showEnding() {
    // The stream's last event is a summary; the record has everything (refunds, expiry).
    try {
      job = await api(path);
    } catch (err) {
      done.append(errorBox(err));
      return;
    }
    fill(stage, finalWords(job));
    refreshMe().catch(() => {});
    if (job.status === "completed") await showResult();
    else if (job.status === "failed") showFailure();
  }

  async function showResult() {
    const [before, after] = await Promise.all([blobUrl(job.original_url), blobUrl(job.result_url)]);
    urls.push(before, after);
    const img = await loadImage(after);
    const download = h("button", { type: "button", id: "download" }, "Download");
    const downloadProblems = h("div");
    download.addEventListener("click", () =>
      act(download, downloadProblems, async () => {
        saveBlob(await fetchBlob(job.result_url), `heirloom-${job.id}.jpg`);
      }),
    );
    fill(
      done,
      h("h2", {}, "Before and after"),
      beforeAfter({
        before: { src: before },
        after: { src: after },
        width: img.naturalWidth,
        height: img.naturalHeight,
      }),
      qualityNote(job.quality),
      h(
        "p",
        { class: "row" },
        download,
        h("span", { class: "muted" }, `${job.width}×${job.height} JPEG`),
        job.expires_at
          ? h("span", { class: "muted" }, `· kept until ${when(job.expires_at)}`)
          : null,
      ),
      downloadProblems,
      candidatesSection(),
      shareSection(job),
    );
  }

  // Several candidates: side by side, each with its seed; choosing one makes it the result.
  function candidatesSection() {
    if (!job.candidates || job.candidates.length < 2) return null;
    const problems = h("div");
    const cards = job.candidates.map((candidate) => {
      const img = h("img", { alt: `Candidate ${candidate.candidate}`, loading: "lazy" });
      blobUrl(candidate.thumbnail_url)
        .then((url) => {
          urls.push(url);
          img.src = url;
        })
        .catch(() => {});
      const choose = h(
        "button",
        { type: "button", disabled: candidate.chosen },
        candidate.chosen ? "Chosen" : "Use this one",
      );
      choose.addEventListener("click", () =>
        act(choose, problems, async () => {
          job = await api(`${path}/choose`, {
            method: "POST",
            json: { candidate: candidate.candidate },
          });
          await showResult();
        }),
      );
      return h(
        "figure",
        { class: candidate.chosen ? "candidate chosen" : "candidate" },
        img,
        h(
          "figcaption",
          {},
          `Candidate ${candidate.candidate} · seed ${candidate.seed}`,
          candidate.quality === "flagged" ? " · flagged by the quality check" : "",
        ),
        choose,
      );
    });
    return h(
      "section",
      { id: "job-candidates" },
      h("h2", {}, "Candidates"),
      h(
        "p",
        { class: "muted" },
        "Each was drawn with its own seed; the one you choose is the result.",
      ),
      h("div", { class: "candidates" }, ...cards),
      problems,
    );
  }

  function showFailure() {
    const retry = h("button", { type: "button" }, "Try again");
    const retryProblems = h("div");
    retry.addEventListener("click", () =>
      act(retry, retryProblems, async () => {
        const again = await api(`${path}/retry`, { method: "POST", json: {} });
        navigate(`#/jobs/${encodeURIComponent(again.id)}`);
      }),
    );
    fill(done, h("p", {}, retry), retryProblems);
  }

  fill(
    main,
    h("h1", {}, `${operationName(job.operations)} `, status),
    h("p", { class: "muted" }, `Submitted ${when(job.created_at)} · job ${job.id}`),
    h(
      "section",
      { class: "card", "aria-label": "Progress" },
      stage,
      bar,
      queue,
      mode,
      streamProblems,
      h("p", {}, cancel, " ", cancelTerms),
      problems,
    ),
    done,
  );
  render(job);
  const stop = isFinal(job.status)
    ? null
    : watchJob(id, {
        onJob: (state) => {
          fill(streamProblems);
          render(state);
        },
        onMode: (m) => {
          if (m === "live") fill(streamProblems);
          fill(mode, MODES[m] ?? "");
        },
        // Shown until the stream or a poll gets through again.
        onError: (err) => fill(streamProblems, errorBox(err)),
      });
  return () => {
    if (stop) stop();
    urls.forEach((url) => URL.revokeObjectURL(url));
  };
}

// What the quality gate found, in plain words: its summary, the faces compared and the tries.
function qualityNote(quality) {
  if (!quality) return null;
  const flagged = quality.verdict === "flagged";
  const details = [];
  if (quality.faces_found) details.push(plural(quality.faces_found, "face") + " compared");
  if (quality.tries > 1) details.push(`made in ${quality.tries} tries`);
  return h(
    "p",
    {
      id: "job-quality",
      class: flagged ? "notice warning" : "muted",
      role: flagged ? "alert" : null,
      "data-verdict": quality.verdict,
    },
    quality.summary,
    details.length ? h("span", { class: "muted" }, ` (${details.join(", ")})`) : null,
  );
}

// The cancel rule of GET /v1/pricing: the model has started once its progress is past the
// model step's first mark (domain/jobs.py MODEL_PROGRESS_SPAN).
const MODEL_STARTED_AFTER = 15;

function cancelWords(job, keptPercent) {
  const price = job.credits_charged;
  if (job.progress <= MODEL_STARTED_AFTER) {
    return `Cancelling now refunds all ${plural(price, "credit")}.`;
  }
  const kept = Math.ceil((price * keptPercent) / 100);
  return `The model has started: cancelling stops it and keeps ${plural(kept, "credit")} of ${price}.`;
}

function finalWords(job) {
  if (job.status === "completed") return "Done · 100%";
  if (job.status === "cancelled") {
    const refund = job.credits_refunded
      ? `; ${plural(job.credits_refunded, "credit")} refunded`
      : "";
    return `Cancelled${refund}.`;
  }
  if (job.status === "failed") {
    const why = job.error ? job.error.message : "The job failed.";
    const refund = job.credits_refunded
      ? ` ${plural(job.credits_refunded, "credit")} refunded.`
      : "";
    return `${why}${refund}`;
  }
  if (job.status === "expired") return "This result was deleted when its retention ended.";
  return "This job was deleted.";
}

function queueWords(job) {
  if (
    job.stage !== "waiting_for_gpu" ||
    job.queue_position === null ||
    job.queue_position === undefined
  ) {
    return "";
  }
  const ahead =
    job.queue_position === 0 ? "Next in line" : `${plural(job.queue_position, "job")} ahead`;
  const start = job.estimated_start_at
    ? `; should start around ${when(job.estimated_start_at)}`
    : "";
  return `${ahead}${start}.`;
}

const EXPIRIES = [
  ["1 hour", 3600],
  ["1 day", 86400],
  ["7 days", 7 * 86400],
  ["30 days", 30 * 86400],
];

function shareSection(job) {
  const base = `/v1/jobs/${encodeURIComponent(job.id)}/shares`;
  const list = h("div", { id: "share-list" });
  const created = h("div", { id: "share-created" });
  const problems = h("div");
  const expiry = h(
    "select",
    { id: "share-expiry" },
    EXPIRIES.map(([label, seconds]) =>
      h("option", { value: String(seconds), selected: seconds === 7 * 86400 }, label),
    ),
  );
  const allowDownload = h("input", { type: "checkbox", id: "share-download" });
  const create = h("button", { type: "submit" }, "Create share link");

  async function refresh() {
    const { shares } = await api(base);
    if (!shares.length) {
      fill(list, h("p", { class: "muted" }, "No share links yet."));
      return;
    }
    fill(
      list,
      h(
        "div",
        { class: "scroll" },
        h(
          "table",
          {},
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", {}, "Created"),
              h("th", {}, "Expires"),
              h("th", {}, "Status"),
              h("th", { class: "num" }, "Views"),
              h("th", {}, ""),
            ),
          ),
          h(
            "tbody",
            {},
            shares.map((share) => shareRow(share)),
          ),
        ),
      ),
    );
  }

  function shareRow(share) {
    const revoke = h("button", { type: "button", class: "secondary" }, "Revoke");
    revoke.addEventListener("click", () =>
      act(revoke, problems, async () => {
        await api(`${base}/${encodeURIComponent(share.id)}`, { method: "DELETE" });
        fill(created);
        await refresh();
      }),
    );
    return h(
      "tr",
      { dataset: { shareId: share.id } },
      h("td", {}, when(share.created_at)),
      h("td", {}, share.expires_at ? when(share.expires_at) : "never"),
      h("td", {}, badge(share.status)),
      h("td", { class: "num" }, String(share.views)),
      h("td", {}, share.status === "active" ? revoke : ""),
    );
  }

  const form = h(
    "form",
    {
      onsubmit: (event) => {
        event.preventDefault();
        act(create, problems, async () => {
          const share = await api(base, {
            method: "POST",
            json: { expires_in: Number(expiry.value), allow_download: allowDownload.checked },
          });
          const link = h("input", {
            type: "text",
            id: "share-url",
            readOnly: true,
            value: share.url,
            "aria-label": "Share link",
          });
          const copy = h("button", { type: "button", class: "secondary" }, "Copy");
          copy.addEventListener("click", async () => {
            link.select();
            try {
              await navigator.clipboard.writeText(share.url);
              fill(copy, "Copied");
            } catch {
              fill(copy, "Press Ctrl+C to copy");
            }
          });
          fill(
            created,
            notice(
              `Link created. It works until ${when(share.expires_at)}; this is the only time it is shown.`,
            ),
            h("div", { class: "row" }, link, copy),
          );
          await refresh();
        });
      },
    },
    h("label", { for: "share-expiry" }, "Link expires after"),
    expiry,
    h("label", { class: "choice" }, allowDownload, "Let people with the link download the photo"),
    h("p", {}, create),
  );
  refresh().catch((err) => fill(list, errorBox(err)));
  return h(
    "section",
    { class: "card", "aria-labelledby": "share-title" },
    h("h2", { id: "share-title" }, "Share"),
    form,
    problems,
    created,
    list,
  );
}
