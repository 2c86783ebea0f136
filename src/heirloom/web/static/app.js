// The web app's shell: sign-in with an API key, the navigation and a hash router over pages.

import { api, apiKey, forgetApiKey, setApiKey } from "./api.js";
import { accountPage } from "./account.js";
import { dashboardPage } from "./dashboard.js";
import { historyPage } from "./history.js";
import { jobPage } from "./job.js";
import { confirmPage, signupPage } from "./signup.js";
import { errorBox, fill, h, notice } from "./ui.js";
import { uploadPage } from "./upload.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");

const PAGES = [
  { path: "upload", title: "Upload", render: uploadPage },
  { path: "history", title: "History", render: historyPage },
  { path: "account", title: "Account", render: accountPage },
  { path: "admin", title: "Operator", render: dashboardPage, admin: true },
];

let me = null;
let leave = null;
// A sentence the sign-in page shows once (why the user was signed out).
let flash = null;

/** Where a hash points: a page and its parameter (#/jobs/<id>). */
function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("?")[0].split("/");
  if (parts[0] === "signup") return { path: "signup", public: true, render: signupPage };
  if (parts[0] === "confirm") {
    return { path: "confirm", public: true, render: confirmPage, id: parts[1] || "" };
  }
  if (parts[0] === "jobs" && parts[1]) {
    return { path: "jobs", title: "Job", render: jobPage, id: decodeURIComponent(parts[1]) };
  }
  return PAGES.find((page) => page.path === parts[0]) || PAGES[0];
}

export function navigate(hash) {
  if (location.hash === hash) show();
  else location.hash = hash;
}

async function refreshMe() {
  me = await api("/v1/me");
  fill(who, `${me.email} · ${me.balance} credits`);
  return me;
}

function drawNav(current) {
  const links = PAGES.filter((page) => !page.admin || me.role === "admin").map((page) =>
    h(
      "a",
      { href: `#/${page.path}`, "aria-current": page.path === current ? "page" : null },
      page.title,
    ),
  );
  fill(
    nav,
    ...links,
    h("button", { type: "button", class: "signout", onclick: () => signOut() }, "Sign out"),
  );
}

async function show() {
  if (leave) leave();
  leave = null;
  const page = route();
  if (page.public) {
    // Sign-up and its confirmation need no key (a signed-in tab may open a link too).
    fill(nav);
    page.render(main, { refreshMe, navigate, id: page.id });
    return;
  }
  if (!apiKey()) {
    signInPage();
    return;
  }
  if (page.admin && me.role !== "admin") {
    navigate("#/upload");
    return;
  }
  drawNav(page.path);
  document.title = `${page.title} - Heirloom`;
  fill(main, h("p", { class: "muted" }, "Loading…"));
  try {
    const context = { me, refreshMe, navigate, signOut, id: page.id };
    leave = (await page.render(main, context)) || null;
  } catch (err) {
    fill(main, h("h1", {}, page.title), errorBox(err));
  }
  main.focus({ preventScroll: true });
}

function signOut(message = null) {
  forgetApiKey();
  me = null;
  flash = message;
  fill(who);
  navigate("#/");
}

function signInPage() {
  fill(nav);
  fill(who);
  document.title = "Sign in - Heirloom";
  const input = h("input", {
    id: "api-key",
    type: "password",
    name: "api-key",
    autocomplete: "off",
    spellcheck: false,
    required: true,
    "aria-describedby": "key-hint",
  });
  const problems = h("div");
  const button = h("button", { type: "submit" }, "Sign in");
  const form = h(
    "form",
    { class: "card", onsubmit: (event) => signIn(event, input, button, problems) },
    h("label", { for: "api-key" }, "API key"),
    input,
    problems,
    h("p", {}, button),
  );
  const message = flash ? notice(flash) : null;
  flash = null;
  fill(
    main,
    message,
    h("h1", {}, "Sign in to Heirloom"),
    h(
      "p",
      {},
      "Restore and colourize old photos. Sign in with your API key: it stays in this tab " +
        "only and is forgotten when you close it.",
    ),
    form,
    h(
      "div",
      { class: "hint", id: "key-hint" },
      h("strong", {}, "First run? "),
      "With ",
      h("code", {}, "make dev"),
      " the dev user's key is in ",
      h("code", {}, ".heirloom/dev-api-key"),
      " and the admin's in ",
      h("code", {}, ".heirloom/admin-api-key"),
      " (under ",
      h("code", {}, "$HEIRLOOM_HOME"),
      " when set): run ",
      h("code", {}, "cat .heirloom/dev-api-key"),
      " and paste it here. On a server, an admin creates your account and key with ",
      h("code", {}, "heirloom users create"),
      ".",
    ),
    h("p", {}, "No account yet? ", h("a", { href: "#/signup", id: "signup-link" }, "Sign up")),
  );
  input.focus();
}

async function signIn(event, input, button, problems) {
  event.preventDefault();
  const key = input.value.trim();
  if (!key) return;
  button.disabled = true;
  fill(problems);
  setApiKey(key);
  try {
    await refreshMe();
  } catch (err) {
    forgetApiKey();
    fill(problems, errorBox(err));
    button.disabled = false;
    input.focus();
    return;
  }
  if (!location.hash || location.hash === "#/" || location.hash === "#") navigate("#/upload");
  else show();
}

async function start() {
  window.addEventListener("hashchange", show);
  if (apiKey()) {
    try {
      await refreshMe();
    } catch (err) {
      forgetApiKey();
      signInPage();
      main.prepend(errorBox(err));
      return;
    }
  }
  show();
}

start();
