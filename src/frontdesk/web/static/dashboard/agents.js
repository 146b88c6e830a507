/*
 * The agents of the account, for owners and admins: who is online, roles, deactivating and
 * inviting. A generated password is shown once, in the invitation's outcome.
 */

import { ROLES } from "./config.js";
import { i18n, state, ui } from "./state.js";
import { t, tNodes } from "./strings.js";
import {
  errorText,
  field,
  guarded,
  h,
  onSubmit,
  page,
  section,
  select,
  showOutcome,
  submitting,
} from "./dom.js";
import { api, isManager, loadAgents } from "./api.js";
import { current } from "./routing.js";

export async function showAgents(seq) {
  if (!isManager()) {
    ui.main.replaceChildren(
      page(t("agents.title"), h("p", { class: "notice", text: t("agents.managers_only") })),
    );
    return;
  }
  ui.main.replaceChildren(
    page(t("agents.title"), h("p", { class: "muted", text: t("list.loading") })),
  );
  await loadAgents();
  if (!current(seq)) return;
  ui.agentRows = h("tbody");
  ui.agentsOutcome = h("div", { class: "agents-outcome" });
  const table = h(
    "table",
    { class: "agents" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        [
          "agents.online",
          "field.name",
          "field.email",
          "field.role",
          "agents.state",
          "agents.actions",
        ].map((key) => h("th", { scope: "col", text: t(key) })),
      ),
    ),
    ui.agentRows,
  );
  ui.main.replaceChildren(
    page(
      t("agents.title"),
      section(t("agents.team"), ui.agentsOutcome, h("div", { class: "table-wrap" }, table)),
      section(t("agents.invite"), inviteForm()),
    ),
  );
  renderAgentRows();
}

export function renderAgentRows() {
  if (state.screen !== "agents" || !ui.agentRows) return;
  const focusedKey = document.activeElement?.dataset?.focusKey;
  ui.agentRows.replaceChildren(...state.agents.map(agentRow));
  if (focusedKey) {
    const again = ui.agentRows.querySelector(`[data-focus-key="${CSS.escape(focusedKey)}"]`);
    if (again) again.focus();
  }
}

function agentRow(agent) {
  const role = select(
    ROLES.map((r) => [r, t(`role.${r}`)]),
    agent.role,
  );
  role.dataset.focusKey = `role-${agent.id}`;
  role.setAttribute("aria-label", t("agents.role_of", { name: agent.name }));
  role.addEventListener(
    "change",
    guarded(
      async () => {
        await api("PATCH", `/agents/${agent.id}`, { role: role.value });
        await afterAgentChange(t("agents.role_changed", { name: agent.name }));
      },
      (error) => {
        role.value = agent.role;
        agentsOutcome(errorText(error), "alert");
      },
    ),
  );
  const toggle = h("button", {
    type: "button",
    class: agent.active ? "danger-outline" : "",
    dataset: { focusKey: `active-${agent.id}` },
    text: agent.active ? t("agents.deactivate") : t("agents.activate"),
    "aria-label": agent.active
      ? t("agents.deactivate_named", { name: agent.name })
      : t("agents.activate_named", { name: agent.name }),
  });
  toggle.addEventListener(
    "click",
    guarded(
      async () => {
        await api("PATCH", `/agents/${agent.id}`, { active: !agent.active });
        await afterAgentChange(
          t(agent.active ? "agents.deactivated" : "agents.activated", { name: agent.name }),
        );
      },
      (error) => agentsOutcome(errorText(error), "alert"),
    ),
  );
  const online = agent.active && agent.online;
  const away = agent.active && !online && agent.state === "away";
  return h(
    "tr",
    { class: agent.active ? null : "inactive", dataset: { agentId: String(agent.id) } },
    h(
      "td",
      {},
      h("span", {
        class: `presence-dot ${online ? "on" : away ? "away" : "off"}`,
        "aria-hidden": "true",
      }),
      h("span", {
        class: away ? "presence-away" : "visually-hidden",
        text: online ? t("agents.is_online") : away ? t("agents.is_away") : t("agents.is_offline"),
      }),
    ),
    h(
      "td",
      {},
      h("span", { text: agent.name }),
      state.me && agent.id === state.me.id
        ? h("span", { class: "muted", text: ` (${t("agent.you")})` })
        : null,
    ),
    h(
      "td",
      {},
      h("span", { text: agent.email }),
      agent.email_confirmed
        ? null
        : h("span", { class: "muted", text: ` (${t("agents.unconfirmed")})` }),
    ),
    h("td", {}, role),
    h("td", { text: agent.active ? t("agents.active") : t("agents.inactive") }),
    h("td", {}, toggle),
  );
}

function agentsOutcome(message, kind = "status") {
  if (!ui.agentsOutcome) return;
  ui.agentsOutcome.replaceChildren(
    h("p", {
      class: `outcome outcome-${kind === "alert" ? "error" : "ok"}`,
      role: kind,
      text: message,
    }),
  );
}

async function afterAgentChange(message) {
  await loadAgents();
  renderAgentRows();
  agentsOutcome(message);
}

function inviteForm() {
  const name = h("input", { type: "text", required: true, autocomplete: "off" });
  const email = h("input", { type: "email", required: true, autocomplete: "off" });
  const role = select(
    ROLES.map((r) => [r, t(`role.${r}`)]),
    "agent",
  );
  const password = h("input", { type: "text", autocomplete: "new-password", minlength: 8 });
  const form = h(
    "form",
    { class: "stack", novalidate: true },
    h("div", { class: "grid-2" }, field(t("field.name"), name), field(t("field.email"), email)),
    h(
      "div",
      { class: "grid-2" },
      field(t("field.role"), role, t("agents.role_hint")),
      field(t("field.password_optional"), password, t("agents.password_hint")),
    ),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary", text: t("agents.invite_submit") }),
    ),
  );
  onSubmit(form, async () => {
    const body = {
      name: name.value.trim(),
      email: email.value.trim(),
      role: role.value,
      locale: i18n.locale,
    };
    if (password.value) body.password = password.value;
    const invited = await submitting(form, () => api("POST", "/agents", body));
    name.value = "";
    email.value = "";
    password.value = "";
    await loadAgents();
    renderAgentRows();
    // The generated password exists only in this answer: show it once, plainly.
    const shown = invited.initial_password
      ? tNodes("agents.invited_with_password", {
          name: invited.name,
          email: invited.email,
          password: h("code", { class: "secret", text: invited.initial_password }),
        })
      : t("agents.invited", { name: invited.name, email: invited.email });
    showOutcome(form, h("span", {}, shown));
  });
  return form;
}
