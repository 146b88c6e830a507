/*
 * The screens before a session: log in, create an account, and the language to show them in.
 */

import { CONFIG, KEYS, LANGUAGE_NAMES, PLANS, store } from "./config.js";
import { i18n, ui } from "./state.js";
import { t, useLocale } from "./strings.js";
import { field, guarded, h, onSubmit, select, showOutcome, submitting } from "./dom.js";
import { api } from "./api.js";
import { startSession } from "./session.js";

export function showSignedOut(notice) {
  ui.root.className = "signed-out";
  ui.root.removeAttribute("aria-busy");
  const wantsSignUp = location.hash.startsWith("#/signup");
  const content = wantsSignUp ? signUpCard() : logInCard(notice);
  const languagePicker = select(
    CONFIG.locales.map((code) => [code, LANGUAGE_NAMES[code] || code]),
    i18n.locale,
  );
  languagePicker.addEventListener(
    "change",
    guarded(async () => {
      store(KEYS.locale, languagePicker.value);
      await useLocale(languagePicker.value);
      showSignedOut(notice);
    }),
  );
  ui.root.replaceChildren(
    h(
      "main",
      { id: "main", class: "auth" },
      h(
        "div",
        { class: "auth-card" },
        h(
          "p",
          { class: "brand brand-large" },
          h("span", { class: "logo", "aria-hidden": "true" }),
          "Frontdesk",
        ),
        content,
      ),
      h("div", { class: "auth-language" }, field(t("field.language"), languagePicker)),
    ),
  );
  document.title = `${wantsSignUp ? t("signup.title") : t("login.title")} · Frontdesk`;
  const first = ui.root.querySelector("input");
  if (first) first.focus();
}

function logInCard(notice) {
  const email = h("input", {
    type: "email",
    name: "email",
    autocomplete: "username",
    required: true,
  });
  const password = h("input", {
    type: "password",
    name: "password",
    autocomplete: "current-password",
    required: true,
  });
  const form = h(
    "form",
    { class: "stack", novalidate: true },
    field(t("field.email"), email),
    field(t("field.password"), password),
    h("button", { type: "submit", class: "primary wide", text: t("login.submit") }),
  );
  onSubmit(form, async () => {
    if (!email.value.trim() || !password.value) {
      showOutcome(form, t("login.missing"), "alert");
      return;
    }
    await submitting(form, async () => {
      const answer = await api("POST", "/auth/login", {
        email: email.value.trim(),
        password: password.value,
      });
      if (location.hash.startsWith("#/login") || location.hash.startsWith("#/signup")) {
        history.replaceState(null, "", "#/conversations");
      }
      await startSession(answer.token);
    });
  });
  return h(
    "div",
    {},
    h("h1", { text: t("login.title") }),
    notice ? h("p", { class: "notice", role: "status", text: notice }) : null,
    form,
    CONFIG.signup === "closed"
      ? null
      : h(
          "p",
          { class: "auth-switch" },
          t("login.no_account"),
          " ",
          h("a", {
            href: "#/signup",
            text: t("login.create_account"),
            onclick: switchAuth("#/signup"),
          }),
        ),
  );
}

function switchAuth(hash) {
  return (event) => {
    event.preventDefault();
    history.pushState(null, "", hash);
    showSignedOut();
  };
}

function signUpCard() {
  const company = h("input", { type: "text", autocomplete: "organization", required: true });
  const plan = select(
    PLANS.map((p) => [p, `${t(`plan.${p}`)} — ${t(`plan.${p}.summary`)}`]),
    "standard",
  );
  const name = h("input", { type: "text", autocomplete: "name", required: true });
  const email = h("input", { type: "email", autocomplete: "username", required: true });
  const password = h("input", {
    type: "password",
    autocomplete: "new-password",
    required: true,
    minlength: 8,
  });
  const form = h(
    "form",
    { class: "stack", novalidate: true },
    field(t("field.company"), company),
    field(t("field.plan"), plan),
    field(t("field.your_name"), name),
    field(t("field.email"), email, t("signup.email_hint")),
    field(t("field.password"), password, t("signup.password_hint")),
    h("button", { type: "submit", class: "primary wide", text: t("signup.submit") }),
  );
  onSubmit(form, async () => {
    await submitting(form, async () => {
      // An invitation from the installation's operator rides in the link: #/signup?invitation=…
      const invitation = new URLSearchParams(location.hash.split("?")[1] || "").get("invitation");
      const answer = await api("POST", "/accounts", {
        name: company.value.trim(),
        plan: plan.value,
        owner: {
          name: name.value.trim(),
          email: email.value.trim(),
          password: password.value,
          locale: i18n.locale,
        },
        ...(invitation ? { invitation } : {}),
      });
      history.replaceState(null, "", "#/settings");
      await startSession(answer.token);
    });
  });
  return h(
    "div",
    {},
    h("h1", { text: t("signup.title") }),
    h("p", { class: "muted", text: t("signup.intro") }),
    form,
    h(
      "p",
      { class: "auth-switch" },
      t("signup.have_account"),
      " ",
      h("a", { href: "#/login", text: t("signup.log_in"), onclick: switchAuth("#/login") }),
    ),
  );
}
