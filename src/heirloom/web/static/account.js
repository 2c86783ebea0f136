// Account: balance and the credit ledger, buying credits and the receipts, API keys, the webhook, the data export, and closing
// the account (after typing the account's email).

import { api, apiKey, fetchBlob } from "./api.js";
import { buyCard, receiptsCard } from "./purchases.js";
import { act, badge, bytes, errorBox, fill, h, notice, plural, saveBlob, when } from "./ui.js";

const WEBHOOK_EVENTS = ["job.started", "job.completed", "job.failed", "job.cancelled"];
const EXPORT_POLL_MS = 1500;

export async function accountPage(main, { refreshMe, signOut }) {
  const me = await refreshMe();
  let stopped = false;
  fill(
    main,
    h("h1", {}, "Your account"),
    summaryCard(me),
    buyCard(card),
    receiptsCard(card),
    ledgerCard(),
    keysCard(signOut),
    webhookCard(),
    exportCard(() => stopped),
    closeCard(me, signOut),
  );
  return () => {
    stopped = true;
  };
}

function card(id, title, ...children) {
  return h(
    "section",
    { class: "card", "aria-labelledby": id },
    h("h2", { id }, title),
    ...children,
  );
}

function summaryCard(me) {
  let storage = "";
  if (me.storage) {
    const limit = me.storage.bytes_limit ? ` of ${bytes(me.storage.bytes_limit)}` : "";
    const kept = plural(me.storage.results_kept, "result");
    storage = `${bytes(me.storage.bytes_used)}${limit} stored, ${kept} kept`;
  }
  return card(
    "summary-title",
    "Balance",
    h(
      "div",
      { class: "grid" },
      h("div", {}, h("span", { class: "stat", id: "balance" }, String(me.balance)), "credits"),
      h("div", {}, h("span", { class: "stat" }, me.tier), "tier"),
      h(
        "div",
        {},
        h(
          "span",
          { class: "stat" },
          me.daily_job_limit ? `${me.jobs_today}/${me.daily_job_limit}` : String(me.jobs_today),
        ),
        "photos today",
      ),
      storage
        ? h("div", {}, h("span", { class: "stat" }, bytes(me.storage.bytes_used)), storage)
        : null,
    ),
    me.debt
      ? h(
          "p",
          { class: "error", role: "alert" },
          `A refunded purchase left ${me.debt} credits owing: new jobs start once it is paid.`,
        )
      : null,
    h("p", { class: "muted" }, `Signed in as ${me.email}.`),
  );
}

function ledgerCard() {
  const body = h("tbody");
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Older entries");
  const problems = h("div");
  let cursor = null;
  const load = () =>
    act(more, problems, async () => {
      const query = new URLSearchParams({ limit: "20" });
      if (cursor) query.set("cursor", cursor);
      const page = await api(`/v1/me/credits?${query}`);
      for (const line of page.entries) {
        body.append(
          h(
            "tr",
            {},
            h("td", {}, when(line.created_at)),
            h("td", {}, line.kind),
            h("td", { class: "num" }, line.amount > 0 ? `+${line.amount}` : String(line.amount)),
            h("td", {}, line.reason),
            h(
              "td",
              {},
              line.job_id
                ? h("a", { href: `#/jobs/${encodeURIComponent(line.job_id)}` }, "job")
                : "",
            ),
          ),
        );
      }
      cursor = page.next_cursor;
      more.hidden = !cursor;
    });
  more.addEventListener("click", load);
  load();
  return card(
    "ledger-title",
    "Credit history",
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
            h("th", {}, "When"),
            h("th", {}, "What"),
            h("th", { class: "num" }, "Credits"),
            h("th", {}, "Why"),
            h("th", {}, ""),
          ),
        ),
        body,
      ),
    ),
    more,
    problems,
  );
}

function keysCard(signOut) {
  const list = h("div");
  const created = h("div");
  const problems = h("div");
  const name = h("input", { type: "text", id: "key-name", maxLength: 100, required: true });
  const add = h("button", { type: "submit" }, "Create key");
  const current = apiKey() || "";

  async function refresh() {
    const { keys } = await api("/v1/me/keys");
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
              h("th", {}, "Name"),
              h("th", {}, "Starts with"),
              h("th", {}, "Created"),
              h("th", {}, "Last used"),
              h("th", {}, "Made by"),
              h("th", {}, ""),
            ),
          ),
          h(
            "tbody",
            {},
            keys.map((key) => {
              const mine = current.startsWith(key.prefix);
              const maker = keys.find((other) => other.id === key.created_by_key_id);
              const revoke = h("button", { type: "button", class: "secondary" }, "Revoke");
              // A leaked key's harm in one click: the keys it made (and theirs), their share
              // links and the webhook one of them set.
              const revokeAll = h(
                "button",
                { type: "button", class: "secondary", title: "Also its keys, links and webhook" },
                "Revoke with all it made",
              );
              revokeAll.addEventListener("click", () => {
                const question =
                  "Revoke this key, every key it created, the share links they made and the " +
                  "webhook one of them set?";
                if (!window.confirm(question)) return;
                act(revokeAll, problems, async () => {
                  const ended = await api(`/v1/me/keys/${encodeURIComponent(key.id)}/revoke`, {
                    method: "POST",
                    json: { cascade: true },
                  });
                  const signedIn = keys.find((other) => current.startsWith(other.prefix));
                  if (signedIn && ended.revoked_key_ids.includes(signedIn.id)) {
                    signOut("The key you signed in with is revoked.");
                    return;
                  }
                  await refresh();
                });
              });
              revoke.addEventListener("click", () => {
                if (
                  mine &&
                  !window.confirm("This is the key you are signed in with. Revoke it and sign out?")
                )
                  return;
                act(revoke, problems, async () => {
                  await api(`/v1/me/keys/${encodeURIComponent(key.id)}`, { method: "DELETE" });
                  if (mine) {
                    signOut("The key you signed in with is revoked.");
                    return;
                  }
                  await refresh();
                });
              });
              return h(
                "tr",
                {},
                h("td", {}, key.name, mine ? " (this tab)" : ""),
                h("td", {}, h("code", {}, key.prefix)),
                h("td", {}, when(key.created_at)),
                h("td", {}, key.last_used_at ? when(key.last_used_at) : "never"),
                h("td", {}, maker ? maker.name : key.created_by_key_id ? "another key" : ""),
                h(
                  "td",
                  {},
                  key.revoked_at ? badge("revoked") : h("span", {}, revoke, " ", revokeAll),
                ),
              );
            }),
          ),
        ),
      ),
    );
  }

  const form = h(
    "form",
    {
      onsubmit: (event) => {
        event.preventDefault();
        act(add, problems, async () => {
          const key = await api("/v1/me/keys", {
            method: "POST",
            json: { name: name.value.trim() },
          });
          name.value = "";
          fill(
            created,
            notice("Your new key is shown this once: store it now."),
            h("p", {}, h("code", { class: "secret", id: "new-key" }, key.api_key)),
          );
          await refresh();
        });
      },
    },
    h("label", { for: "key-name" }, "New key's name"),
    h("div", { class: "row" }, name, add),
  );
  refresh().catch((err) => fill(list, errorBox(err)));
  return card("keys-title", "API keys", list, form, problems, created);
}

function webhookCard() {
  const state = h("div");
  const secret = h("div");
  const problems = h("div");
  const url = h("input", {
    type: "url",
    id: "webhook-url",
    placeholder: "https://example.com/heirloom",
  });
  const boxes = WEBHOOK_EVENTS.map((event) =>
    h("input", { type: "checkbox", value: event, checked: true }),
  );
  const save = h("button", { type: "submit" }, "Save webhook");
  const rotate = h("button", { type: "button", class: "secondary" }, "New secret");
  const remove = h("button", { type: "button", class: "secondary" }, "Remove");

  const showSecret = (hook) => {
    if (hook && hook.secret) {
      fill(
        secret,
        notice("Signing secret, shown this once: store it now."),
        h("p", {}, h("code", { class: "secret" }, hook.secret)),
      );
    }
  };

  async function refresh() {
    // null when no webhook is set up.
    const hook = await api("/v1/me/webhook");
    rotate.hidden = remove.hidden = !hook;
    if (!hook) {
      fill(state, h("p", { class: "muted" }, "No webhook: Heirloom does not call your server."));
      return;
    }
    url.value = hook.url || "";
    boxes.forEach((box) => {
      box.checked = hook.events.includes(box.value);
    });
    fill(
      state,
      h(
        "p",
        {},
        hook.url
          ? `Sends ${hook.events.join(", ")} to `
          : "Only a signing secret (for per-job callbacks).",
        hook.url ? h("code", {}, hook.url) : "",
      ),
    );
  }

  rotate.addEventListener("click", () =>
    act(rotate, problems, async () =>
      showSecret(await api("/v1/me/webhook/rotate-secret", { method: "POST" })),
    ),
  );
  remove.addEventListener("click", () =>
    act(remove, problems, async () => {
      await api("/v1/me/webhook", { method: "DELETE" });
      fill(secret);
      url.value = "";
      await refresh();
    }),
  );
  const form = h(
    "form",
    {
      onsubmit: (event) => {
        event.preventDefault();
        act(save, problems, async () => {
          const events = boxes.filter((box) => box.checked).map((box) => box.value);
          const hook = await api("/v1/me/webhook", {
            method: "PUT",
            json: { url: url.value.trim() || null, events },
          });
          showSecret(hook);
          await refresh();
        });
      },
    },
    h("label", { for: "webhook-url" }, "URL to call when your jobs change"),
    url,
    h(
      "fieldset",
      {},
      h("legend", {}, "Events"),
      boxes.map((box) => h("label", { class: "choice" }, box, box.value)),
    ),
    h("p", { class: "row" }, save, rotate, remove),
  );
  refresh().catch((err) => fill(state, errorBox(err)));
  return card("webhook-title", "Webhook", state, form, problems, secret);
}

function exportCard(isStopped) {
  const status = h("p", { role: "status" });
  const problems = h("div");
  const start = h("button", { type: "button", class: "secondary" }, "Export my data");
  start.addEventListener("click", () =>
    act(start, problems, async () => {
      let job = await api("/v1/me/exports", { method: "POST" });
      fill(status, "Building your export…");
      while (job.status === "building" && !isStopped()) {
        await new Promise((resolve) => setTimeout(resolve, EXPORT_POLL_MS));
        job = await api(job.status_url);
      }
      if (job.status !== "ready") {
        fill(status, `The export is ${job.status}.`);
        return;
      }
      fill(status, "Downloading…");
      saveBlob(await fetchBlob(job.download_url), `heirloom-export-${job.id}.zip`);
      fill(status, `Export saved. Its link works until ${when(job.expires_at)}.`);
    }),
  );
  return card(
    "export-title",
    "Your data",
    h(
      "p",
      {},
      "One ZIP with your profile, credit history, jobs, access log and every photo still kept.",
    ),
    start,
    status,
    problems,
  );
}

function closeCard(me, signOut) {
  const typed = h("input", { type: "email", id: "close-confirm", autocomplete: "off" });
  const problems = h("div");
  const close = h(
    "button",
    { type: "submit", class: "danger", disabled: true },
    "Delete my account",
  );
  typed.addEventListener("input", () => {
    close.disabled = typed.value.trim().toLowerCase() !== me.email.toLowerCase();
  });
  const form = h(
    "form",
    {
      onsubmit: (event) => {
        event.preventDefault();
        if (close.disabled) return;
        act(close, problems, async () => {
          await api("/v1/me", { method: "DELETE" });
          signOut("Your account is closed; its photos and data are being erased.");
        });
      },
    },
    h(
      "p",
      {},
      "Closing your account revokes your keys at once and erases your photos, jobs and " +
        "history. Credits left are lost. This cannot be undone.",
    ),
    h("label", { for: "close-confirm" }, `Type your email (${me.email}) to confirm`),
    typed,
    problems,
    h("p", {}, close),
  );
  return card("close-title", "Delete account", form);
}
