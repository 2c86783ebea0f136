// The operator dashboard (admin keys): the GPU queue, cost and margin with a chart, usage,
// alerts, the emergency stop per tier, users with credit grants and tier changes, and
// purchases with a refund button each.

import { api, idempotencyKey } from "./api.js";
import { act, badge, errorBox, fill, h, notice, plural, usd, when } from "./ui.js";

const TIERS = ["free", "paid", "forever"];
const SCOPES = ["all", ...TIERS];
const DAY_MS = 86400000;

export async function dashboardPage(main) {
  const sections = {
    queue: h("section", { class: "card", "aria-labelledby": "queue-title", id: "queue" }),
    costs: h("section", { class: "card", "aria-labelledby": "costs-title", id: "costs" }),
    usage: h("section", { class: "card", "aria-labelledby": "usage-title", id: "usage" }),
    alerts: h("section", { class: "card", "aria-labelledby": "alerts-title", id: "alerts" }),
    controls: h("section", { class: "card", "aria-labelledby": "controls-title", id: "controls" }),
    users: h("section", { class: "card", "aria-labelledby": "users-title", id: "users" }),
    purchases: h("section", {
      class: "card",
      "aria-labelledby": "purchases-title",
      id: "purchases",
    }),
  };
  const refresh = h("button", { type: "button", class: "secondary" }, "Refresh");
  fill(
    main,
    h("div", { class: "row" }, h("h1", {}, "Operator dashboard"), refresh),
    h("div", { class: "grid" }, sections.queue, sections.costs),
    sections.usage,
    h("div", { class: "grid" }, sections.alerts, sections.controls),
    sections.users,
    sections.purchases,
  );
  const load = () =>
    Promise.all([
      guarded(sections.queue, "queue-title", "GPU queue", queueSection),
      guarded(sections.costs, "costs-title", "Cost and margin", costSection),
      guarded(sections.usage, "usage-title", "Usage, last 7 days", usageSection),
      guarded(sections.alerts, "alerts-title", "Alerts", alertSection),
      guarded(sections.controls, "controls-title", "Emergency stop", controlSection),
      guarded(sections.purchases, "purchases-title", "Purchases and refunds", purchaseSection),
    ]);
  refresh.addEventListener("click", () => act(refresh, h("div"), load));
  await Promise.all([
    load(),
    guarded(sections.users, "users-title", "Users and grants", userSection),
  ]);
}

/** Fill one section; a failing route shows its error there and leaves the others alone. */
async function guarded(section, id, title, build) {
  try {
    fill(section, h("h2", { id }, title), ...(await build()));
  } catch (err) {
    fill(section, h("h2", { id }, title), errorBox(err));
  }
}

async function purchaseSection() {
  const { purchases } = await api("/v1/admin/purchases?limit=50");
  if (!purchases.length) return [h("p", { class: "muted" }, "No purchases yet.")];
  const problems = h("div");
  const money = (minor, currency) => `${(minor / 100).toFixed(2)} ${currency.toUpperCase()}`;
  const rows = purchases.map((p) => {
    const refundable = (p.status === "paid") && p.reversed_minor < p.paid_minor;
    const button = h(
      "button",
      { type: "button", class: "secondary", disabled: !refundable, dataset: { purchase: p.id } },
      "Refund",
    );
    button.addEventListener("click", async () => {
      if (!confirm(`Refund ${money(p.paid_minor - p.reversed_minor, p.currency)}?`)) return;
      const done = await act(button, problems, () =>
        api(`/v1/admin/purchases/${encodeURIComponent(p.id)}/refund`, { method: "POST" }),
      );
      if (done) {
        button.disabled = true;
        problems.replaceChildren(
          notice(`Refunded; ${done.credits_taken_back} credits taken back.`),
        );
      }
    });
    return [
      when(p.created_at),
      p.user_id.slice(0, 8),
      p.pack_id,
      money(p.paid_minor || p.price_minor, p.currency),
      p.status,
      p.reversed_minor ? money(p.reversed_minor, p.currency) : "",
      button,
    ];
  });
  return [
    table(["when", "user", "pack", "amount", "status", "paid back", ""], rows, (i) => ({
      purchase: purchases[i].id,
    })),
    problems,
  ];
}

function stat(id, value, label) {
  return h("div", {}, h("span", { class: "stat", id }, value), label);
}

async function queueSection() {
  const [queue, pool] = await Promise.all([api("/v1/queue"), endpointsTable()]);
  const waiting = queue.tiers.reduce((n, t) => n + t.waiting, 0);
  const onGpu = queue.tiers.reduce((n, t) => n + t.on_gpu, 0);
  return [
    h(
      "div",
      { class: "grid" },
      stat("gpu-in-flight", `${onGpu} / ${queue.gpu_pool_size}`, "GPUs in use"),
      stat("gpu-waiting", String(waiting), "jobs waiting for a GPU"),
    ),
    table(
      ["Tier", "Waiting", "On a GPU", "Oldest wait"],
      queue.tiers.map((t) => [
        t.tier,
        num(t.waiting),
        num(t.on_gpu),
        t.oldest_wait_s === null ? "" : `${Math.round(t.oldest_wait_s)} s`,
      ]),
    ),
    h("h3", {}, "RunPod endpoints, last hour"),
    pool,
  ];
}

/** The GPU pool's endpoints from /v1/admin/queue; its error stays inside the table's place. */
async function endpointsTable() {
  try {
    const admin = await api("/v1/admin/queue");
    return table(
      ["Endpoint", "In flight / slots", "State", "Attempts (failed)", "GPU cost", "Price / s"],
      admin.endpoints.map((e) => [
        e.id,
        `${e.in_flight} / ${e.gpu_slots}`,
        badge(e.failing ? "failing" : "healthy"),
        num(`${e.attempts_last_hour} (${e.failed_last_hour})`),
        usd(e.cost_usd_last_hour),
        `$${e.price_per_s_usd.toFixed(5)}`,
      ]),
    );
  } catch (err) {
    return errorBox(err);
  }
}

async function costSection() {
  const now = new Date();
  const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const [daily, month] = await Promise.all([
    api("/v1/admin/reports/costs?period=day"),
    api(
      `/v1/admin/reports/costs?period=month&from=${encodeURIComponent(monthStart.toISOString())}`,
    ),
  ]);
  const today = daily.buckets.find((b) => b.start.slice(0, 10) === now.toISOString().slice(0, 10));
  const t = today || { jobs: 0, cost_usd: 0, revenue_usd: 0, margin_usd: 0, margin_pct: null };
  const m = month.totals;
  const pct = (value) => (value === null || value === undefined ? "" : ` (${value.toFixed(0)}%)`);
  return [
    h(
      "div",
      { class: "grid" },
      stat("jobs-today", String(t.jobs), "jobs today"),
      stat(
        "cost-today",
        usd(t.cost_usd),
        `GPU cost today; margin ${usd(t.margin_usd)}${pct(t.margin_pct)}`,
      ),
      stat(
        "cost-month",
        usd(m.cost_usd),
        `this month; revenue ${usd(m.revenue_usd)}, margin ${usd(m.margin_usd)}${pct(m.margin_pct)}`,
      ),
      stat(
        "forecast",
        usd(daily.forecast.cost_forecast_usd),
        `forecast for ${daily.forecast.month}`,
      ),
    ),
    h("h3", {}, "Cost and revenue per day, last 30 days"),
    h(
      "div",
      { class: "legend" },
      h("span", { class: "cost" }, "GPU cost"),
      h("span", { class: "revenue" }, "revenue"),
    ),
    costChart(daily.buckets, daily.start, daily.end),
  ];
}

/** Inline SVG bars: cost and revenue per day, with a table-equivalent title per bar. */
function costChart(buckets, start, end) {
  const days = [];
  for (let d = Date.parse(start.slice(0, 10)); d < Date.parse(end); d += DAY_MS) {
    days.push(new Date(d).toISOString().slice(0, 10));
  }
  const byDay = new Map(buckets.map((b) => [b.start.slice(0, 10), b]));
  const top = Math.max(0.01, ...buckets.map((b) => Math.max(b.cost_usd, b.revenue_usd)));
  const width = 600;
  const height = 160;
  const slot = width / Math.max(1, days.length);
  const bar = Math.max(1, slot / 2 - 1);
  const svg = svgEl("svg", {
    class: "chart",
    viewBox: `0 0 ${width} ${height + 16}`,
    role: "img",
    "aria-label": `GPU cost and revenue per day; highest ${usd(top)}`,
  });
  days.forEach((day, i) => {
    const b = byDay.get(day) || { cost_usd: 0, revenue_usd: 0, jobs: 0 };
    for (const [kind, value, offset] of [
      ["cost", b.cost_usd, 0],
      ["revenue", b.revenue_usd, bar + 1],
    ]) {
      const hgt = (value / top) * height;
      const rect = svgEl("rect", {
        class: `bar-${kind}`,
        x: i * slot + offset,
        y: height - hgt,
        width: bar,
        height: Math.max(0, hgt),
      });
      rect.append(svgEl("title", {}, `${day}: ${kind} ${usd(value)}, ${plural(b.jobs, "job")}`));
      svg.append(rect);
    }
    if (i % 7 === 0) svg.append(svgEl("text", { x: i * slot, y: height + 12 }, day.slice(5)));
  });
  return svg;
}

function svgEl(tag, attrs, text) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  if (text !== undefined) el.textContent = text;
  return el;
}

async function usageSection() {
  const [jobs, users, stages, failures] = await Promise.all([
    api("/v1/admin/analytics/jobs"),
    api("/v1/admin/analytics/users"),
    api("/v1/admin/analytics/stages"),
    api("/v1/admin/analytics/failures"),
  ]);
  const perDay = new Map();
  for (const row of jobs) perDay.set(row.day, (perDay.get(row.day) || 0) + row.jobs);
  const days = [...perDay.keys()].sort();
  const top = Math.max(1, ...perDay.values());
  const width = 600;
  const height = 80;
  const slot = width / 7;
  const svg = svgEl("svg", {
    class: "chart",
    viewBox: `0 0 ${width} ${height + 16}`,
    role: "img",
    "aria-label": `Jobs per day: ${days.map((d) => `${d} ${perDay.get(d)}`).join(", ") || "none"}`,
  });
  days.slice(-7).forEach((day, i) => {
    const n = perDay.get(day);
    const hgt = (n / top) * height;
    const rect = svgEl("rect", {
      class: "bar-jobs",
      x: i * slot + 4,
      y: height - hgt,
      width: slot - 8,
      height: hgt,
    });
    rect.append(svgEl("title", {}, `${day}: ${plural(n, "job")}`));
    svg.append(rect, svgEl("text", { x: i * slot + 4, y: height + 12 }, `${day.slice(5)}: ${n}`));
  });
  const rate = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)}%`);
  return [
    h(
      "div",
      { class: "grid" },
      stat("jobs-week", String([...perDay.values()].reduce((a, b) => a + b, 0)), "jobs in 7 days"),
      stat(
        "active-users",
        String(Object.values(users).reduce((a, b) => a + b, 0)),
        `active users (${
          Object.entries(users)
            .map(([t, n]) => `${t} ${n}`)
            .join(", ") || "none"
        })`,
      ),
      stat(
        "failure-rate",
        rate(failures.failure_rate),
        `failed; model retries on ${rate(failures.retry_rate)} of jobs`,
      ),
    ),
    h("h3", {}, "Jobs per day"),
    svg,
    h("h3", {}, "Stage times (seconds)"),
    table(
      ["Stage", "Count", "p50", "p95"],
      stages.map((s) => [
        s.stage.replaceAll("_", " "),
        num(s.count),
        num(fixed(s.p50_s)),
        num(fixed(s.p95_s)),
      ]),
    ),
    Object.keys(failures.failures_by_code).length
      ? table(
          ["Failure", "Jobs"],
          Object.entries(failures.failures_by_code).map(([code, n]) => [code, num(n)]),
        )
      : null,
  ];
}

function fixed(v) {
  return v === null || v === undefined ? "" : Number(v).toFixed(1);
}

async function alertSection() {
  const { alerts } = await api("/v1/admin/alerts?limit=20");
  if (!alerts.length) return [h("p", { class: "muted" }, "No alerts.")];
  return [
    table(
      ["Severity", "Alert", "Opened", "Resolved"],
      alerts
        .slice(0, 20)
        .map((a) => [
          badge(a.severity),
          a.message,
          when(a.opened_at),
          a.resolved_at ? when(a.resolved_at) : badge("open"),
        ]),
    ),
  ];
}

async function controlSection() {
  const state = await api("/v1/admin/budgets");
  const paused = new Map(state.controls.map((c) => [c.scope, c]));
  const problems = h("div");
  const reason = h("input", { type: "text", id: "control-reason", maxLength: 200 });
  const rows = SCOPES.map((scope) => {
    const control = paused.get(scope);
    const stopped = Boolean(control && control.paused);
    const button = h(
      "button",
      { type: "button", class: stopped ? "" : "danger", dataset: { scope } },
      stopped ? `Resume ${scope}` : `Stop ${scope}`,
    );
    button.addEventListener("click", () =>
      act(button, problems, async () => {
        const verb = stopped ? "resume" : "stop";
        await api(`/v1/admin/controls/${scope}/${verb}`, {
          method: "POST",
          json: { reason: reason.value.trim() || null },
        });
        await guarded(
          document.getElementById("controls"),
          "controls-title",
          "Emergency stop",
          controlSection,
        );
      }),
    );
    return [
      scope,
      badge(stopped ? "stopped" : "accepting"),
      control && control.reason ? control.reason : "",
      button,
    ];
  });
  const budgets = state.budgets.map((b) =>
    h(
      "li",
      {},
      `${b.period}: ${usd(b.spent_usd)} spent`,
      b.amount_usd ? ` of ${usd(b.amount_usd)} (${b.used_pct.toFixed(0)}%)` : ", no budget",
    ),
  );
  return [
    h("p", { class: "muted" }, "A stopped tier refuses new photos; jobs already running finish."),
    h("label", { for: "control-reason" }, "Reason (recorded)"),
    reason,
    table(["Scope", "State", "Why", ""], rows),
    problems,
    h("h3", {}, "Budgets"),
    h("ul", {}, budgets),
  ];
}

async function userSection() {
  const list = h("div", { id: "user-list" });
  const problems = h("div");
  const created = h("div");
  const search = h("input", { type: "search", id: "user-search", placeholder: "part of an email" });
  let offset = 0;

  async function refresh() {
    const query = new URLSearchParams({ limit: "20", offset: String(offset) });
    if (search.value.trim()) query.set("email", search.value.trim());
    const page = await api(`/v1/admin/users?${query}`);
    const rows = page.users.map((u) => [
      u.email,
      u.role,
      tierPicker(u),
      num(u.balance),
      num(u.jobs),
      grantForm(u),
    ]);
    fill(
      list,
      page.users.length
        ? table(["Email", "Role", "Tier", "Credits", "Jobs", "Grant credits"], rows, (i) => ({
            userId: page.users[i].id,
          }))
        : h("p", { class: "muted" }, "No users match."),
      h(
        "p",
        { class: "row" },
        offset > 0
          ? h(
              "button",
              {
                type: "button",
                class: "secondary",
                onclick: () => {
                  offset = Math.max(0, offset - 20);
                  refresh();
                },
              },
              "Newer",
            )
          : null,
        page.users.length === 20
          ? h(
              "button",
              {
                type: "button",
                class: "secondary",
                onclick: () => {
                  offset += 20;
                  refresh();
                },
              },
              "Older",
            )
          : null,
      ),
    );
  }

  function tierPicker(user) {
    const select = h(
      "select",
      { "aria-label": `Tier of ${user.email}` },
      TIERS.map((t) => h("option", { value: t, selected: t === user.tier }, t)),
    );
    select.addEventListener("change", async () => {
      fill(problems);
      try {
        await api(`/v1/admin/users/${encodeURIComponent(user.id)}`, {
          method: "PATCH",
          json: { tier: select.value },
        });
        fill(problems, notice(`${user.email} is now on the ${select.value} tier.`));
      } catch (err) {
        select.value = user.tier;
        fill(problems, errorBox(err));
      }
    });
    return select;
  }

  function grantForm(user) {
    const amount = h("input", {
      type: "number",
      min: "1",
      step: "1",
      value: "10",
      "aria-label": `Credits to grant ${user.email}`,
      style: "width:6rem",
    });
    const give = h("button", { type: "submit", class: "secondary" }, "Grant");
    return h(
      "form",
      {
        class: "row",
        onsubmit: (event) => {
          event.preventDefault();
          act(give, problems, async () => {
            const grant = await api(`/v1/admin/users/${encodeURIComponent(user.id)}/credits`, {
              method: "POST",
              json: { amount: Number(amount.value), reason: "granted from the dashboard" },
              headers: { "Idempotency-Key": idempotencyKey() },
            });
            fill(problems, notice(`${user.email} now has ${grant.balance} credits.`));
            await refresh();
          });
        },
      },
      amount,
      give,
    );
  }

  const email = h("input", { type: "email", id: "new-user-email", required: true });
  const tier = h(
    "select",
    { id: "new-user-tier" },
    TIERS.map((t) => h("option", { value: t }, t)),
  );
  const credits = h("input", { type: "number", id: "new-user-credits", min: "0", value: "0" });
  const add = h("button", { type: "submit" }, "Create user");
  const createForm = h(
    "form",
    {
      onsubmit: (event) => {
        event.preventDefault();
        act(add, problems, async () => {
          const user = await api("/v1/admin/users", {
            method: "POST",
            json: {
              email: email.value.trim(),
              tier: tier.value,
              credits: Number(credits.value) || 0,
            },
          });
          email.value = "";
          fill(
            created,
            notice(`${user.email} created. Their API key is shown this once: hand it over now.`),
            h("p", {}, h("code", { class: "secret" }, user.api_key)),
          );
          offset = 0;
          await refresh();
        });
      },
    },
    h("h3", {}, "New user"),
    h(
      "div",
      { class: "grid" },
      h("div", {}, h("label", { for: "new-user-email" }, "Email"), email),
      h("div", {}, h("label", { for: "new-user-tier" }, "Tier"), tier),
      h("div", {}, h("label", { for: "new-user-credits" }, "Starting credits"), credits),
    ),
    h("p", {}, add),
  );

  search.addEventListener("input", () => {
    offset = 0;
    refresh().catch((err) => fill(list, errorBox(err)));
  });
  await refresh();
  return [
    h("label", { for: "user-search" }, "Find a user"),
    search,
    problems,
    list,
    createForm,
    created,
  ];
}

function num(n) {
  return h("span", { class: "num" }, String(n));
}

/** A table; cells are text or elements; `rowData(i)` gives a row's data attributes. */
function table(headers, rows, rowData = () => ({})) {
  return h(
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
          headers.map((label) => h("th", {}, label)),
        ),
      ),
      h(
        "tbody",
        {},
        rows.map((cells, i) =>
          h(
            "tr",
            { dataset: rowData(i) },
            cells.map((cell) => h("td", {}, cell)),
          ),
        ),
      ),
    ),
  );
}
