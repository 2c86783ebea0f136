// Upload: pick or drop a photo, choose what to do with it (price from /v1/pricing against the
// balance), see what the tier gives, and submit. The job page takes over from there.

import { api, idempotencyKey } from "./api.js";
import { act, bytes, fill, h, operationName, plural, when } from "./ui.js";

export async function uploadPage(main, { refreshMe, navigate }) {
  const [pricing, me] = await Promise.all([api("/v1/pricing", { auth: false }), refreshMe()]);
  const rules = pricing.tiers.find((tier) => tier.tier === me.tier);
  let file = null;
  let previewUrl = null;
  // One key per chosen photo and operation: a double click or a retried request is one job.
  let submission = idempotencyKey();

  const fileInput = h("input", {
    id: "photo",
    type: "file",
    accept: "image/jpeg,image/png,image/webp,image/tiff,image/bmp,image/heic,image/heif,image/avif",
  });
  const chosen = h("p", { class: "muted", id: "chosen" }, "No photo chosen yet.");
  const preview = h("div");
  const zone = h(
    "label",
    { class: "dropzone", for: "photo" },
    h("strong", {}, "Drop a photo here"),
    " or press to choose one",
    h("br"),
    h("span", { class: "muted" }, "JPEG, PNG, WebP, TIFF, BMP, HEIC/HEIF or AVIF"),
    fileInput,
  );

  const choose = (picked) => {
    if (!picked) return;
    file = picked;
    submission = idempotencyKey();
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = URL.createObjectURL(picked);
    fill(chosen, `${picked.name} (${bytes(picked.size)})`);
    fill(preview, h("img", { class: "preview", src: previewUrl, alt: "The chosen photo" }));
    update();
  };
  fileInput.addEventListener("change", () => choose(fileInput.files[0]));
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    choose(event.dataTransfer.files[0]);
  });

  const choices = Object.entries(pricing.prices).map(([ops, price], i) =>
    h(
      "label",
      { class: "choice" },
      h("input", {
        type: "radio",
        name: "operations",
        value: ops,
        checked: i === 0,
        onchange: () => {
          submission = idempotencyKey();
          update();
        },
      }),
      `${operationName(ops)} — ${plural(price, "credit")}`,
    ),
  );
  const operations = () => main.querySelector('input[name="operations"]:checked').value;

  // Several candidates (different seeds) to choose from, where the tier allows them.
  const maxCandidates = (rules && rules.max_candidates) || 1;
  const candidatesInput = h("input", {
    id: "candidates",
    type: "number",
    min: "1",
    max: String(maxCandidates),
    value: "1",
    oninput: () => {
      submission = idempotencyKey();
      update();
    },
  });
  const candidates = () =>
    Math.min(maxCandidates, Math.max(1, Number.parseInt(candidatesInput.value, 10) || 1));
  const candidatesField =
    maxCandidates > 1
      ? h(
          "p",
          { class: "row" },
          h("label", { for: "candidates" }, "Candidates to choose from"),
          candidatesInput,
        )
      : null;

  const summary = h("p", { id: "cost-summary", role: "status" });
  const problems = h("div");
  const button = h("button", { type: "submit", disabled: true }, "Restore this photo");

  function update() {
    const base = pricing.prices[operations()];
    const extra = Math.ceil((base * ((rules && rules.candidate_price_percent) || 100)) / 100);
    const price = base + (candidates() - 1) * extra;
    const left = me.balance - price;
    fill(
      summary,
      `Costs ${plural(price, "credit")}; your balance is ${me.balance}`,
      left >= 0 ? `, ${left} left after.` : ". That is not enough: ask for more credits.",
    );
    button.disabled = !file || left < 0;
    fill(button, `${operationName(operations())} this photo (${plural(price, "credit")})`);
  }

  const submit = (event) => {
    event.preventDefault();
    act(button, problems, async () => {
      const form = new FormData();
      form.append("file", file, file.name);
      form.append("operations", operations());
      form.append("candidates", String(candidates()));
      const job = await api("/v1/jobs", {
        method: "POST",
        form,
        headers: { "Idempotency-Key": submission },
      });
      navigate(`#/jobs/${encodeURIComponent(job.id)}`);
    });
  };

  fill(
    main,
    h("h1", {}, "Restore a photo"),
    h(
      "form",
      { class: "card", onsubmit: submit },
      zone,
      chosen,
      preview,
      h("fieldset", {}, h("legend", {}, "What to do"), ...choices),
      candidatesField,
      summary,
      problems,
      button,
    ),
    tierCard(me, rules),
  );
  update();
  return () => previewUrl && URL.revokeObjectURL(previewUrl);
}

function tierCard(me, rules) {
  if (!rules) return null;
  const frame = rules.output_short_side
    ? `${rules.output_long_side}×${rules.output_short_side}`
    : `${rules.output_long_side} px on the long side`;
  const kept = rules.storage_days
    ? `kept ${plural(rules.storage_days, "day")}, then deleted`
    : "kept until you delete them";
  const daily = me.daily_job_limit
    ? `${me.jobs_today} of ${me.daily_job_limit} photos today (resets ${when(me.daily_limit_resets_at)})`
    : `${plural(me.jobs_today, "photo")} today, no daily limit`;
  return h(
    "section",
    { class: "card", "aria-labelledby": "tier-title" },
    h("h2", { id: "tier-title" }, `Your ${me.tier} tier`),
    h(
      "ul",
      {},
      h("li", {}, `Results up to ${frame}`),
      h("li", {}, rules.watermark ? "Results carry a watermark" : "No watermark"),
      h("li", {}, `Results are ${kept}`),
      h("li", {}, daily),
    ),
  );
}
