/*
 * The profile: the agent's details, language and time zone, their own e-mail notifications,
 * push notifications (push.js), password and sessions, the warnings of an unconfirmed
 * or bouncing address, and the "can I be reached?" checklist (reachability.js).
 */

import { CONFIG, LANGUAGE_NAMES } from "./config.js";
import { i18n, state, ui } from "./state.js";
import { t, tNodes, useLocale } from "./strings.js";
import { forgetFormatters, timeElement } from "./time.js";
import {
  checkField,
  field,
  h,
  onSubmit,
  page,
  section,
  select,
  showOutcome,
  submitting,
  uid,
} from "./dom.js";
import { api } from "./api.js";
import { pushSection } from "./push.js";
import { myReachability } from "./reachability.js";
import { endSession } from "./session.js";
import { renderShell } from "./shell.js";
import { current, route } from "./routing.js";

export async function showProfile(seq) {
  ui.main.replaceChildren(
    page(t("profile.title"), h("p", { class: "muted", text: t("list.loading") })),
  );
  const [me, mine, subscriptions, reachable] = await Promise.all([
    api("GET", "/me"),
    api("GET", "/me/notifications"),
    api("GET", "/me/push-subscriptions"),
    api("GET", "/me/reachability"),
  ]);
  if (!current(seq)) return;
  state.me = me;
  const notice = state.notice;
  state.notice = null;
  ui.main.replaceChildren(
    page(
      t("profile.title"),
      notice ? h("p", { class: "notice", role: "status", text: notice }) : null,
      me.email_bounced ? bounceWarning(me.email_bounced) : null,
      me.email_confirmed ? null : unconfirmedWarning(me),
      section(t("profile.details"), profileForm(me)),
      section(t("profile.my_notifications"), myNotificationsForm(mine)),
      section(t("profile.push"), ...pushSection(mine, subscriptions)),
      section(t("reachability.title"), ...myReachability(reachable)),
      section(t("profile.password"), passwordForm()),
      section(t("profile.sessions"), sessionsForm()),
    ),
  );
}

function sessionsForm() {
  const form = h(
    "form",
    { class: "stack", novalidate: true },
    h("p", { class: "muted", text: t("profile.sessions_hint") }),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "danger", text: t("action.log_out_everywhere") }),
    ),
  );
  onSubmit(form, async () => {
    await submitting(form, () => api("POST", "/auth/logout-everywhere"));
    endSession(null);
  });
  return form;
}

function unconfirmedWarning(me) {
  const form = h(
    "form",
    { class: "stack", novalidate: true },
    h("div", { class: "actions" }, h("button", { type: "submit", text: t("confirm.resend") })),
  );
  onSubmit(form, async () => {
    await submitting(form, async () => {
      await api("POST", "/me/confirmation");
      showOutcome(form, t("confirm.resent", { email: me.email }), "status");
    });
  });
  return h(
    "div",
    { class: "warning", role: "alert" },
    h("h2", { text: t("confirm.title") }),
    h("p", {}, tNodes("confirm.text", { email: h("strong", { text: me.email }) })),
    form,
  );
}

function bounceWarning(bounce) {
  const said = [bounce.status, bounce.bounce_text].filter(Boolean).join(" ") || "—";
  return h(
    "div",
    { class: "warning", role: "alert" },
    h("h2", { text: t("profile.bounced_title") }),
    h(
      "p",
      {},
      tNodes("profile.bounced_text", {
        email: h("strong", { text: bounce.email }),
        at: timeElement(bounce.at),
        said: h("code", { text: said }),
      }),
    ),
  );
}

function profileForm(me) {
  const name = h("input", { type: "text", autocomplete: "name", value: me.name, required: true });
  const email = h("input", {
    type: "email",
    autocomplete: "email",
    value: me.email,
    required: true,
  });
  const language = select(
    CONFIG.locales.map((code) => [code, LANGUAGE_NAMES[code] || code]),
    me.locale,
  );
  const zones = h("datalist", { id: uid("zones") });
  const known =
    typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  for (const zone of ["UTC", ...known]) zones.append(h("option", { value: zone }));
  const zone = h("input", {
    type: "text",
    value: me.time_zone,
    list: zones.id,
    autocomplete: "off",
    spellcheck: "false",
  });
  const currentPassword = h("input", { type: "password", autocomplete: "current-password" });
  const currentField = field(
    t("field.current_password"),
    currentPassword,
    t("profile.current_password_hint"),
  );
  currentField.hidden = true;
  email.addEventListener("input", () => {
    currentField.hidden = email.value.trim().toLowerCase() === me.email.toLowerCase();
  });
  const form = h(
    "form",
    { class: "stack", novalidate: true },
    field(t("field.name"), name),
    field(t("field.email"), email, t("profile.email_hint")),
    currentField,
    field(t("field.language"), language),
    field(t("field.time_zone"), zone, t("profile.time_zone_hint")),
    zones,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary", text: t("action.save") }),
    ),
  );
  onSubmit(form, async () => {
    const changes = {};
    if (name.value.trim() !== me.name) changes.name = name.value.trim();
    if (email.value.trim() !== me.email) {
      changes.email = email.value.trim();
    }
    // The server compares addresses without case: only a new address is a new login.
    if (email.value.trim().toLowerCase() !== me.email.toLowerCase()) {
      if (!currentPassword.value) {
        showOutcome(form, t("error.current_password_required"), "alert");
        currentPassword.focus();
        return;
      }
      changes.current_password = currentPassword.value;
    }
    if (language.value !== me.locale) changes.locale = language.value;
    if (zone.value.trim() !== me.time_zone) changes.time_zone = zone.value.trim();
    if (!Object.keys(changes).length) {
      showOutcome(form, t("outcome.saved"));
      return;
    }
    const updated = await submitting(form, () => api("PATCH", "/me", changes));
    state.me = updated;
    forgetFormatters();
    if (updated.locale !== i18n.locale) {
      // The whole page speaks the new language, this screen included.
      await useLocale(updated.locale);
      renderShell();
      route();
      return;
    }
    if (ui.navLinks && ui.root.querySelector(".whoami-name")) {
      ui.root.querySelector(".whoami-name").textContent = updated.name;
    }
    const seq = state.screenSeq;
    await showProfile(seq);
    const again = ui.main.querySelector("form");
    if (again) showOutcome(again, t("outcome.saved"));
  });
  return form;
}

function myNotificationsForm(mine) {
  const offline = h("input", { type: "checkbox", checked: mine.offline_message_email });
  const missed = h("input", { type: "checkbox", checked: mine.missed_conversation_email });
  const form = h(
    "form",
    { class: "stack" },
    h("p", { class: "muted", text: t("profile.my_notifications_intro") }),
    checkField(t("profile.email_me_offline"), offline),
    checkField(t("profile.email_me_missed"), missed),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary", text: t("action.save") }),
    ),
  );
  onSubmit(form, async () => {
    await submitting(form, () =>
      api("PATCH", "/me/notifications", {
        offline_message_email: offline.checked,
        missed_conversation_email: missed.checked,
      }),
    );
    showOutcome(form, t("outcome.saved"));
  });
  return form;
}

function passwordForm() {
  const fresh = h("input", { type: "password", autocomplete: "new-password", minlength: 8 });
  const currentPassword = h("input", { type: "password", autocomplete: "current-password" });
  const form = h(
    "form",
    { class: "stack", novalidate: true },
    field(t("field.new_password"), fresh, t("signup.password_hint")),
    field(t("field.current_password"), currentPassword),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary", text: t("profile.change_password") }),
    ),
  );
  onSubmit(form, async () => {
    await submitting(form, () =>
      api("PATCH", "/me", {
        password: fresh.value,
        current_password: currentPassword.value || undefined,
      }),
    );
    fresh.value = "";
    currentPassword.value = "";
    showOutcome(form, t("outcome.password_changed"));
  });
  return form;
}
