/*
 * "Why no e-mail?": the open conversation's notification decisions as the server recorded
 * them, each with its reason, its times and what happened to each recipient's e-mail.
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
  if (decision.reason) {
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
  return h(
    "li",
    { class: `decision decision-${decision.state}`, dataset: { reason: decision.reason || "" } },
    parts,
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
