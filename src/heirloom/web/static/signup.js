// Self-serve sign-up: ask for a link by email, then confirm it to get the account's first key
// (shown once). Both pages work without an API key.

import { api, setApiKey } from "./api.js";
import { act, errorBox, fill, h, notice } from "./ui.js";

export function signupPage(main) {
  document.title = "Sign up - Heirloom";
  const input = h("input", {
    id: "signup-email",
    type: "email",
    name: "email",
    autocomplete: "email",
    required: true,
  });
  const problems = h("div");
  const button = h("button", { type: "submit" }, "Send me a link");
  const form = h(
    "form",
    {
      class: "card",
      onsubmit: async (event) => {
        event.preventDefault();
        const answer = await act(button, problems, () =>
          api("/v1/signup", { method: "POST", json: { email: input.value.trim() }, auth: false }),
        );
        if (answer) fill(problems, notice(answer.message));
      },
    },
    h("label", { for: "signup-email" }, "Email"),
    input,
    problems,
    h("p", {}, button),
  );
  fill(
    main,
    h("h1", {}, "Sign up to Heirloom"),
    h(
      "p",
      {},
      "We email you a link; opening it creates a free account with a few credits and its " +
        "first API key.",
    ),
    form,
    h("p", {}, h("a", { href: "#/" }, "I have an API key: sign in")),
  );
  input.focus();
}

export function confirmPage(main, { id: token, navigate, refreshMe }) {
  document.title = "Confirm sign-up - Heirloom";
  const problems = h("div");
  const result = h("div");
  const button = h("button", { type: "button", id: "confirm-signup" }, "Create my account");
  button.addEventListener("click", async () => {
    const account = await act(button, problems, () =>
      api("/v1/signup/confirm", { method: "POST", json: { token }, auth: false }),
    );
    if (!account) return;
    button.remove();
    const go = h("button", { type: "button", id: "continue" }, "Continue to Heirloom");
    go.addEventListener("click", async () => {
      setApiKey(account.api_key);
      await refreshMe();
      navigate("#/upload");
    });
    fill(
      result,
      notice(`Your account ${account.email} is ready with ${account.balance} credits.`),
      h("p", {}, "Your API key, shown this once. Keep it somewhere safe:"),
      h("p", {}, h("code", { id: "new-api-key" }, account.api_key)),
      h("p", {}, go),
    );
  });
  fill(
    main,
    h("h1", {}, "Confirm your sign-up"),
    token ? h("p", {}, button) : errorBox(new Error("This link has no token.")),
    problems,
    result,
  );
}
