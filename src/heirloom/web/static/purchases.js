// Buying: the packs on sale (GET /v1/pricing) with a Buy button each (Stripe Checkout), and
// the caller's receipts (GET /v1/me/purchases).

import { api } from "./api.js";
import { act, fill, h, when } from "./ui.js";

export function money(minor, currency) {
  return `${(minor / 100).toFixed(2)} ${currency.toUpperCase()}`;
}

export function buyCard(card) {
  const body = h("div", { id: "packs" }, h("p", { class: "muted" }, "Loading…"));
  api("/v1/pricing", { auth: false }).then(
    (pricing) => {
      const problems = h("div");
      const rows = pricing.packs.map((pack) => {
        const button = h("button", { type: "button", dataset: { pack: pack.id } }, "Buy");
        button.addEventListener("click", async () => {
          const started = await act(button, problems, () =>
            api("/v1/checkout", { method: "POST", json: { pack: pack.id } }),
          );
          if (started) location.assign(started.url);
        });
        const tier = pack.tier ? ` and the ${pack.tier} tier` : "";
        return h(
          "li",
          {},
          `${pack.name}: ${pack.credits} credits${tier}, ${money(pack.price_minor, pack.currency)} `,
          button,
        );
      });
      fill(body, h("ul", {}, rows), problems);
    },
    (err) => fill(body, h("p", { class: "error" }, err.message)),
  );
  return card("buy-title", "Buy credits", body);
}

export function receiptsCard(card) {
  const body = h("div", { id: "purchases" }, h("p", { class: "muted" }, "Loading…"));
  api("/v1/me/purchases").then(
    ({ purchases }) => {
      if (!purchases.length) {
        fill(body, h("p", { class: "muted" }, "No purchases yet."));
        return;
      }
      fill(
        body,
        h(
          "ul",
          {},
          purchases.map((p) =>
            h(
              "li",
              { dataset: { status: p.status } },
              `${when(p.created_at)}: ${p.pack_id}, ${money(p.price_minor, p.currency)}, ` +
                `${p.status}` +
                (p.reversed_minor ? `, ${money(p.reversed_minor, p.currency)} paid back` : "") +
                (p.credits_taken_back ? `, ${p.credits_taken_back} credits taken back` : ""),
            ),
          ),
        ),
      );
    },
    (err) => fill(body, h("p", { class: "error" }, err.message)),
  );
  return card("purchases-title", "Purchases", body);
}
