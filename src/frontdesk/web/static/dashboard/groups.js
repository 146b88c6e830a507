/*
 * Groups (the PRO plan): owners and admins create, rename, fill and delete them; agents see
 * them read-only.
 */

import { state, ui } from "./state.js";
import { t } from "./strings.js";
import {
  checkField,
  errorText,
  field,
  guarded,
  h,
  onSubmit,
  page,
  section,
  showOutcome,
  submitting,
  uid,
} from "./dom.js";
import { agentName, api, ApiError, isManager, loadAgents } from "./api.js";
import { current } from "./routing.js";

export async function showGroups(seq) {
  ui.main.replaceChildren(
    page(t("groups.title"), h("p", { class: "muted", text: t("list.loading") })),
  );
  const account = await api("GET", "/account");
  state.account = account;
  let groups = null;
  // Asking below PRO would only be refused (and logged as an error by the browser).
  if (account.plan === "pro") {
    try {
      groups = await api("GET", "/groups");
    } catch (error) {
      if (!(error instanceof ApiError) || error.code !== "plan_lacks_feature") throw error;
    }
  }
  if (groups === null) {
    if (!current(seq)) return;
    ui.main.replaceChildren(
      page(
        t("groups.title"),
        h("p", {
          class: "notice plan-notice",
          text: t("groups.needs_pro", { plan: t(`plan.${account.plan}`) }),
        }),
      ),
    );
    return;
  }
  await loadAgents();
  if (!current(seq)) return;
  const manager = isManager();
  const parts = [h("p", { class: "muted", text: t("groups.intro") })];
  if (manager) parts.push(section(t("groups.create"), createGroupForm()));
  if (!groups.length) parts.push(h("p", { class: "empty", text: t("groups.none") }));
  for (const group of groups) parts.push(manager ? groupEditor(group) : groupView(group));
  if (!manager) parts.push(h("p", { class: "notice", text: t("groups.read_only") }));
  ui.main.replaceChildren(page(t("groups.title"), ...parts));
}

function reloadGroups(message) {
  const seq = state.screenSeq;
  return showGroups(seq).then(() => {
    if (message && current(seq)) {
      ui.main
        .querySelector(".page > h1")
        .after(h("p", { class: "outcome outcome-ok", role: "status", text: message }));
    }
  });
}

function createGroupForm() {
  const name = h("input", { type: "text", required: true, autocomplete: "off" });
  const form = h(
    "form",
    { class: "inline-form", novalidate: true },
    field(t("groups.name"), name),
    h("button", { type: "submit", class: "primary", text: t("groups.create_submit") }),
  );
  onSubmit(form, async () => {
    const created = await submitting(form, () =>
      api("POST", "/groups", { name: name.value.trim() }),
    );
    await reloadGroups(t("groups.created", { name: created.name }));
  });
  return form;
}

function groupView(group) {
  const members = group.agent_ids.map(agentName);
  return section(
    group.name,
    h("p", { text: members.length ? members.join(", ") : t("groups.no_members") }),
  );
}

function groupEditor(group) {
  const heading = h("h2", { id: uid("group"), text: group.name });
  const name = h("input", { type: "text", value: group.name, required: true, autocomplete: "off" });
  const members = h("fieldset", { class: "members" }, h("legend", { text: t("groups.members") }));
  const boxes = [];
  for (const agent of state.agents) {
    const box = h("input", {
      type: "checkbox",
      value: String(agent.id),
      checked: group.agent_ids.includes(agent.id),
    });
    boxes.push(box);
    members.append(
      checkField(agent.active ? agent.name : `${agent.name} (${t("agents.inactive")})`, box),
    );
  }
  const confirmBox = h("div", { class: "confirm", hidden: true });
  const form = h(
    "form",
    { class: "stack", novalidate: true },
    field(t("groups.name"), name),
    members,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary", text: t("action.save") }),
      h("button", {
        type: "button",
        class: "danger-outline",
        text: t("groups.delete"),
        onclick: () => {
          confirmBox.hidden = false;
          confirmBox.querySelector("button").focus();
        },
      }),
    ),
    confirmBox,
  );
  // Deleting asks once more on the page itself: a browser dialog would block the socket's
  // page and cannot be styled or translated.
  const confirmText = h("p", { text: t("groups.delete_confirm", { name: group.name }) });
  confirmBox.append(
    confirmText,
    h("button", {
      type: "button",
      class: "danger",
      text: t("groups.delete_yes"),
      onclick: guarded(
        async () => {
          await api("DELETE", `/groups/${group.id}`);
          await reloadGroups(t("groups.deleted", { name: group.name }));
        },
        (error) => showOutcome(form, errorText(error), "alert"),
      ),
    }),
    h("button", {
      type: "button",
      text: t("action.cancel"),
      onclick: () => {
        confirmBox.hidden = true;
      },
    }),
  );
  onSubmit(form, async () => {
    const agentIds = boxes.filter((b) => b.checked).map((b) => Number(b.value));
    const saved = await submitting(form, () =>
      api("PATCH", `/groups/${group.id}`, { name: name.value.trim(), agent_ids: agentIds }),
    );
    // The heading names the section (and the delete question names the group).
    Object.assign(group, saved);
    heading.textContent = saved.name;
    confirmText.textContent = t("groups.delete_confirm", { name: saved.name });
    showOutcome(form, t("outcome.saved"));
  });
  return h(
    "section",
    { class: "card group", "aria-labelledby": heading.id, dataset: { groupId: String(group.id) } },
    heading,
    form,
  );
}
