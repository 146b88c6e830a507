/*
 * "Who was told, and how": the open conversation's notification decisions as the server
 * recorded them, each with its reason, its times, and per channel what happened: each
 * recipient's e-mail, each push to a browser or phone (and who was not pushed, and why),
 * and each webhook endpoint told of it.
 */

import { DEVICES_EVERY_MS } from "./config.js";
import { state, timers, ui } from "./state.js";
import { t, tNodes } from "./strings.js";
import { timeElement } from "./time.js";
import { detail, h } from "./dom.js";
import { agentName } from "./api.js";
import { loadNotifications } from "./conversation.js";

export function renderWhy() {
  if (!ui.why || state.notifications === null) return;
  const decisions = state.notifications;
  ui.why.replaceChildren();
  if (!decisions.length) {
    ui.why.append(h("p", { class: "muted", text: t("why.none") }));
  } else {
    ui.why.append(h("ol", { class: "decisions" }, decisions.map(decisionItem)));
  }
  ui.why.append(
    h(
      "details",
      { class: "why-tips" },
      h("summary", { text: t("why.tips_title") }),
      h(
        "ul",
        {},
        h("li", { text: t("why.tip_spam") }),
        h("li", { text: t("why.tip_full") }),
        h("li", {}, tNodes("why.tip_address", { email: h("strong", { text: state.me.email }) })),
        h("li", { text: t("why.tip_blocked") }),
      ),
    ),
  );
  scheduleWhyPoll(decisions);
}

// Decisions and deliveries happen on the engine's clock and announce no frame: look again
// shortly after whatever is due next.
function scheduleWhyPoll(decisions) {
  clearTimeout(timers.notifications);
  const now = Date.now();
  let next = Infinity;
  for (const decision of decisions) {
    if (decision.state === "scheduled") next = Math.min(next, Date.parse(decision.due_at));
    for (const recipient of decision.recipients) {
      if (recipient.state === "pending") next = Math.min(next, now + 2000);
      if (recipient.state === "deferred" && recipient.next_attempt_at) {
        next = Math.min(next, Date.parse(recipient.next_attempt_at));
      }
    }
  }
  if (!Number.isFinite(next)) return;
  const wait = Math.min(Math.max(next - now + 500, 1000), DEVICES_EVERY_MS);
  timers.notifications = setTimeout(() => loadNotifications().catch(() => {}), wait);
}

function decisionItem(decision) {
  const heading = h(
    "h4",
    { class: "decision-title" },
    h("span", { text: t(`kind.${decision.kind}`) }),
    h("span", { class: `badge state-${decision.state}`, text: t(`state.${decision.state}`) }),
  );
  const why = h("p", { class: "decision-reason" });
  if (decision.kind === "unserved_conversation") {
    // A push only: its reasons are the push's.
    if (decision.reason) why.append(h("code", { text: decision.reason }), " ");
    why.append(
      decision.state === "scheduled"
        ? t("why.reminder.scheduled")
        : decision.state === "sent"
          ? t("why.reminder.sent")
          : (PUSH_REASONS[decision.reason] ?? (() => ""))(),
    );
  } else if (decision.reason) {
    why.append(h("code", { text: decision.reason }), " ", t(`reason.${decision.reason}`));
  } else {
    why.append(t(`state.${decision.state}.explained`));
  }
  const times = h(
    "dl",
    { class: "decision-times" },
    detail(t("why.opened"), timeElement(decision.opened_at)),
    detail(t("why.due"), timeElement(decision.due_at)),
    decision.decided_at ? detail(t("why.decided"), timeElement(decision.decided_at)) : null,
    decision.visitor_left_at
      ? detail(t("why.visitor_left"), timeElement(decision.visitor_left_at))
      : null,
    detail(t("why.messages"), String(decision.message_ids.length)),
  );
  const parts = [heading, why, times];
  if (decision.push && decision.kind !== "unserved_conversation") {
    parts.push(...pushParts(decision.push));
  } else if (decision.push) {
    parts.push(...pushParts({ ...decision.push, reason: null }));
  }
  if (decision.recipients.length) {
    parts.push(
      h("h5", { text: t("why.recipients") }),
      h("ul", { class: "recipients" }, decision.recipients.map(recipientItem)),
    );
  }
  if (decision.not_recipients.length) {
    parts.push(
      h("h5", { text: t("why.not_recipients") }),
      h(
        "ul",
        { class: "recipients" },
        decision.not_recipients.map((left) =>
          h(
            "li",
            { class: left.agent_id === state.me.id ? "you" : null },
            h("span", { class: "recipient-name", text: agentName(left.agent_id) }),
            " — ",
            t(`not_recipient.${left.reason}`),
          ),
        ),
      ),
    );
  }
  if (decision.webhooks?.length) {
    parts.push(
      h("h5", { text: t("why.webhooks") }),
      h("ul", { class: "recipients webhooks-told" }, decision.webhooks.map(webhookItem)),
    );
  }
  return h(
    "li",
    { class: `decision decision-${decision.state}`, dataset: { reason: decision.reason || "" } },
    parts,
  );
}

const PUSH_REASONS = {
  agent_came_online: () => t("why.push_reason.agent_came_online"),
  read_in_dashboard: () => t("why.push_reason.read_in_dashboard"),
  conversation_served: () => t("why.push_reason.conversation_served"),
  conversation_closed: () => t("why.push_reason.conversation_closed"),
  setting_off: () => t("why.push_reason.setting_off"),
  no_recipients: () => t("why.push_reason.no_recipients"),
};

const PUSH_STATES = {
  sending: () => t("why.push_state.sending"),
  sent: () => t("why.push_state.sent"),
  gone: () => t("why.push_state.gone"),
  failed: () => t("why.push_state.failed"),
};

const NOT_PUSHED = {
  inactive: () => t("why.not_pushed.inactive"),
  opted_out: () => t("why.not_pushed.opted_out"),
  not_in_group: () => t("why.not_pushed.not_in_group"),
  no_subscription: () => t("why.not_pushed.no_subscription"),
  not_online: () => t("why.not_pushed.not_online"),
  looking: () => t("why.not_pushed.looking"),
};

const WEBHOOK_STATES = {
  pending: () => t("webhooks.delivery.pending"),
  delivered: () => t("webhooks.delivery.delivered"),
  failed: () => t("webhooks.delivery.failed"),
};

// The push before the e-mail: when it is due, or why nobody was pushed, each push with
// what its push service answered, and each agent not pushed with why.
function pushParts(push) {
  const parts = [h("h5", { text: t("why.push") })];
  if (push.due_at) {
    parts.push(
      h("p", { class: "push-stage" }, tNodes("why.push_due", { time: timeElement(push.due_at) })),
    );
  } else if (push.reason) {
    parts.push(
      h(
        "p",
        { class: "push-stage", dataset: { reason: push.reason } },
        (PUSH_REASONS[push.reason] ?? (() => push.reason))(),
      ),
    );
  }
  const told = push.pushes.map((made) =>
    h(
      "li",
      { class: made.agent_id === state.me.id ? "you" : null },
      h("span", { class: "recipient-name", text: made.agent_id ? agentName(made.agent_id) : "—" }),
      " ",
      h("span", { class: "recipient-email", text: `${made.device_name} · ${made.push_service}` }),
      " ",
      h("span", {
        class: `badge push-${made.state}`,
        text: (PUSH_STATES[made.state] ?? PUSH_STATES.failed)(),
      }),
      " ",
      h("span", {
        class: "recipient-detail",
        text: [made.status, made.answer].filter((part) => part !== null && part !== "").join(" "),
      }),
    ),
  );
  const left = push.not_pushed.map((out) =>
    h(
      "li",
      { class: out.agent_id === state.me.id ? "you" : null },
      h("span", { class: "recipient-name", text: agentName(out.agent_id) }),
      " — ",
      (NOT_PUSHED[out.reason] ?? (() => out.reason))(),
    ),
  );
  if (told.length || left.length) parts.push(h("ul", { class: "recipients pushes" }, told, left));
  return parts;
}

function webhookItem(hook) {
  return h(
    "li",
    {},
    h("span", { class: "recipient-name", text: hook.url }),
    " ",
    h("span", {
      class: `badge webhook-${hook.state}`,
      text: (WEBHOOK_STATES[hook.state] ?? WEBHOOK_STATES.pending)(),
    }),
    " ",
    h("span", {
      class: "recipient-detail",
      text: t("why.webhook_detail", { attempts: hook.attempts, status: hook.last_status ?? "—" }),
    }),
  );
}

function recipientItem(recipient) {
  const reply = [recipient.smtp_code, recipient.smtp_text]
    .filter((part) => part !== null && part !== "")
    .join(" ");
  const params = {
    reply: reply || "—",
    time: recipient.next_attempt_at ? timeElement(recipient.next_attempt_at) : "—",
    bounced_at: recipient.bounced_at ? timeElement(recipient.bounced_at) : "—",
    bounce: [recipient.bounce_status, recipient.bounce_text].filter(Boolean).join(" ") || "—",
    attempts: recipient.attempts,
  };
  const key =
    reply || recipient.state === "deferred" || recipient.state === "bounced"
      ? `delivery.${recipient.state}.detail`
      : `delivery.${recipient.state}`;
  return h(
    "li",
    { class: recipient.agent_id === state.me.id ? "you" : null },
    h("span", {
      class: "recipient-name",
      text: recipient.agent_id ? agentName(recipient.agent_id) : recipient.email,
    }),
    " ",
    h("span", { class: "recipient-email", text: `<${recipient.email}>` }),
    " ",
    h("span", {
      class: `badge delivery-${recipient.state}`,
      text: t(`delivery.${recipient.state}.label`),
    }),
    h("span", { class: "recipient-detail" }, tNodes(key, params)),
  );
}
