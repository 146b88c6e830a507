/*
 * Settings → Webhooks (docs/webhooks.md), for owners and admins: the account's endpoints with
 * their state, a form that adds one (and shows its signing secret once), and for each one a
 * switch, a test event, its delivery log and removal.
 */

import { t } from "./strings.js";
import {
  checkField,
  errorText,
  field,
  guarded,
  h,
  onSubmit,
  section,
  select,
  showOutcome,
  submitting,
} from "./dom.js";
import { api } from "./api.js";
import { timeElement } from "./time.js";

const EVENTS = [
  ["notification.offline_message", () => t("webhooks.event.offline_message")],
  ["notification.missed_conversation", () => t("webhooks.event.missed_conversation")],
  ["conversation.created", () => t("webhooks.event.conversation_created")],
  ["message.created", () => t("webhooks.event.message_created")],
  ["conversation.closed", () => t("webhooks.event.conversation_closed")],
];

const STATES = {
  pending: () => t("webhooks.delivery.pending"),
  delivered: () => t("webhooks.delivery.delivered"),
  failed: () => t("webhooks.delivery.failed"),
};

export async function webhooksSection() {
  const list = h("ul", { class: "webhooks" });
  const refresh = async () => renderEndpoints(list, await api("GET", "/webhooks"), refresh);
  await refresh();
  return section(
    t("webhooks.title"),
    h("p", { class: "muted", text: t("webhooks.intro") }),
    list,
    addForm(refresh),
  );
}

function addForm(refresh) {
  const url = h("input", { type: "url", required: true, placeholder: "https://" });
  const kind = select(
    [
      ["standard", t("webhooks.kind.standard")],
      ["slack", t("webhooks.kind.slack")],
    ],
    "standard",
  );
  const description = h("input", { type: "text", maxlength: "200" });
  const boxes = EVENTS.map(([name, label]) => [
    name,
    h("input", { type: "checkbox", checked: name.startsWith("notification.") }),
    label(),
  ]);
  const form = h(
    "form",
    { class: "stack webhook-add", novalidate: true },
    h("h3", { text: t("webhooks.add") }),
    field(t("webhooks.url"), url, t("webhooks.url_hint")),
    field(t("webhooks.kind"), kind),
    field(t("webhooks.description"), description),
    h(
      "fieldset",
      { class: "stack" },
      h("legend", { text: t("webhooks.events") }),
      boxes.map(([, box, label]) => checkField(label, box)),
    ),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary", text: t("webhooks.add_button") }),
    ),
  );
  onSubmit(form, async () => {
    const made = await submitting(form, () =>
      api("POST", "/webhooks", {
        url: url.value.trim(),
        kind: kind.value,
        description: description.value,
        events: boxes.filter(([, box]) => box.checked).map(([name]) => name),
      }),
    );
    url.value = "";
    description.value = "";
    await refresh();
    showOutcome(
      form,
      h(
        "span",
        {},
        t("webhooks.added"),
        " ",
        h("code", { class: "webhook-secret", text: made.secret }),
      ),
    );
  });
  return form;
}

function renderEndpoints(list, endpoints, refresh) {
  if (!endpoints.length) {
    list.replaceChildren(h("li", { class: "muted", text: t("webhooks.none") }));
    return;
  }
  list.replaceChildren(...endpoints.map((endpoint) => endpointItem(endpoint, refresh)));
}

function endpointItem(endpoint, refresh) {
  const log = h("div", { class: "webhook-log", hidden: true });
  const said = h("p", { class: "outcome-slot" });
  const state = endpoint.enabled
    ? h("span", { class: "tag tag-ok", text: t("webhooks.on") })
    : h("span", { class: "tag tag-warn", text: t("webhooks.off") });
  const toggle = h("button", {
    type: "button",
    text: endpoint.enabled ? t("webhooks.switch_off") : t("webhooks.switch_on"),
  });
  toggle.addEventListener(
    "click",
    guarded(async () => {
      await api("PATCH", `/webhooks/${endpoint.id}`, { enabled: !endpoint.enabled });
      await refresh();
    }),
  );
  const test = h("button", { type: "button", text: t("webhooks.send_test") });
  test.addEventListener("click", async () => {
    try {
      await api("POST", `/webhooks/${endpoint.id}/test`);
      said.textContent = t("webhooks.test_sent");
      await showLog(endpoint, log, true);
    } catch (error) {
      said.textContent = errorText(error);
    }
  });
  const logButton = h("button", { type: "button", text: t("webhooks.show_log") });
  logButton.addEventListener(
    "click",
    guarded(async () => {
      if (!log.hidden) {
        log.hidden = true;
        return;
      }
      await showLog(endpoint, log, false);
    }),
  );
  const remove = h("button", { type: "button", class: "danger", text: t("action.remove") });
  remove.addEventListener(
    "click",
    guarded(async () => {
      await api("DELETE", `/webhooks/${endpoint.id}`);
      await refresh();
    }),
  );
  const events = EVENTS.filter(([name]) => endpoint.events.includes(name)).map(([, label]) =>
    label(),
  );
  return h(
    "li",
    { class: "webhook", dataset: { id: String(endpoint.id) } },
    h(
      "div",
      { class: "webhook-head" },
      h("strong", { class: "webhook-url", text: endpoint.url }),
      h("span", {
        class: "tag",
        text: endpoint.kind === "slack" ? t("webhooks.kind.slack") : t("webhooks.kind.standard"),
      }),
      state,
    ),
    endpoint.description ? h("p", { class: "muted", text: endpoint.description }) : null,
    h("p", { class: "muted", text: events.join(" · ") }),
    endpoint.enabled
      ? endpoint.failures
        ? h("p", { class: "notice", text: t("webhooks.failing", { count: endpoint.failures }) })
        : null
      : h("p", {
          class: "notice",
          text: t("webhooks.switched_off", { reason: endpoint.disabled_reason ?? "" }),
        }),
    h("div", { class: "actions" }, toggle, test, logButton, remove),
    said,
    log,
  );
}

async function showLog(endpoint, log, waitForTest) {
  let deliveries = await api("GET", `/webhooks/${endpoint.id}/deliveries?limit=20`);
  // A test event is tried within a moment: wait for its answer, up to the endpoint's timeout.
  for (let i = 0; waitForTest && i < 40 && deliveries[0]?.state === "pending"; i++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    deliveries = await api("GET", `/webhooks/${endpoint.id}/deliveries?limit=20`);
  }
  log.hidden = false;
  if (!deliveries.length) {
    log.replaceChildren(h("p", { class: "muted", text: t("webhooks.log_empty") }));
    return;
  }
  log.replaceChildren(
    h("h4", { text: t("webhooks.log") }),
    h(
      "ol",
      { class: "webhook-deliveries" },
      deliveries.map((d) =>
        h(
          "li",
          { class: `webhook-delivery webhook-${d.state}` },
          h(
            "div",
            {},
            h("strong", { text: d.event }),
            " ",
            h("span", { class: "tag", text: (STATES[d.state] ?? STATES.pending)() }),
            " ",
            timeElement(d.created_at),
            " ",
            h("code", { class: "muted", text: d.msg_id }),
          ),
          h(
            "ul",
            { class: "webhook-attempts" },
            d.log.map((a) =>
              h(
                "li",
                {},
                timeElement(a.at),
                " ",
                a.status === null
                  ? t("webhooks.no_answer", { answer: a.answer ?? "" })
                  : t("webhooks.answered", { status: a.status, ms: a.duration_ms }),
                a.status !== null && a.answer ? h("q", { text: a.answer }) : null,
              ),
            ),
          ),
        ),
      ),
    ),
  );
}
