/*
 * Can I be reached? The checklist of the agent (in the profile, with "Send me a test
 * notification") and of the whole team (Settings → Notifications, for owners and admins):
 * each item with its facts, and each failing one with a sentence saying what to do
 * (docs/reachability.md). Addresses, mail servers' replies and device names are shown as
 * text only.
 */

import { t, tNodes } from "./strings.js";
import { timeElement } from "./time.js";
import { errorText, guarded, h, showOutcome, submitting } from "./dom.js";
import { api } from "./api.js";

// How often the checklist asks again while a test e-mail waits for its mail server's answer,
// and for how long at most.
const TEST_POLL_MS = 1500;
const TEST_POLL_FOR_MS = 60_000;

// The profile's section: the checklist and the test button.
export function myReachability(checklist) {
  const list = h("div", { class: "reachability" }, checklistItems(checklist));
  const button = h("button", {
    type: "submit",
    class: "primary",
    text: t("reachability.send_test"),
  });
  const form = h(
    "form",
    { class: "stack", novalidate: true },
    h("div", { class: "actions" }, button),
  );
  let polling = null;
  const refresh = async () => {
    const fresh = await api("GET", "/me/reachability");
    list.replaceChildren(checklistItems(fresh));
    return fresh;
  };
  form.addEventListener(
    "submit",
    guarded(
      async (event) => {
        event.preventDefault();
        showOutcome(form, null);
        await submitting(form, () => api("POST", "/me/test-notification"));
        showOutcome(form, t("reachability.test_sent", { email: checklist.email }));
        const until = Date.now() + TEST_POLL_FOR_MS;
        clearTimeout(polling);
        const again = guarded(async () => {
          if (!list.isConnected) return;
          const fresh = await refresh();
          const test = itemOf(fresh, "test_notification")?.facts.test;
          if (waiting(test) && Date.now() < until) polling = setTimeout(again, TEST_POLL_MS);
        });
        await again();
      },
      (error) => showOutcome(form, errorText(error), "alert"),
    ),
  );
  return [h("p", { class: "muted", text: t("reachability.intro") }), list, form];
}

// Settings → Notifications, for owners and admins: one checklist per active agent.
export async function teamReachability() {
  const team = await api("GET", "/agents/reachability");
  return h(
    "div",
    { class: "stack" },
    h("p", { class: "muted", text: t("reachability.team_intro") }),
    team.agents.map((agent) =>
      h(
        "details",
        { class: "reachability-agent", open: !agent.ok, dataset: { agentId: agent.agent_id } },
        h(
          "summary",
          {},
          h("strong", { text: agent.name }),
          " ",
          h("span", { class: "muted", text: agent.email }),
          " ",
          verdictBadge(agent.ok, agent.ok ? null : failingCount(agent)),
        ),
        h("div", { class: "reachability" }, checklistItems(agent)),
      ),
    ),
  );
}

function itemOf(checklist, key) {
  return checklist.items.find((item) => item.key === key);
}

function waiting(test) {
  if (!test) return false;
  return test.email !== null && ["pending", "deferred"].includes(test.email.state);
}

function failingCount(checklist) {
  return t("reachability.to_fix", {
    count: checklist.items.filter((item) => item.ok === false).length,
  });
}

function checklistItems(checklist) {
  return h(
    "ul",
    { class: "checklist" },
    checklist.items.map((item) =>
      h(
        "li",
        {
          class: `check check-${item.ok === true ? "ok" : item.ok === false ? "failing" : "info"}`,
          dataset: { key: item.key, ok: String(item.ok) },
        },
        h(
          "div",
          { class: "check-head" },
          verdictBadge(item.ok),
          h("strong", { text: t(`reachability.item.${item.key}`) }),
        ),
        h("div", { class: "check-facts" }, facts(item)),
        item.problem
          ? h("p", {
              class: "check-problem",
              dataset: { problem: item.problem },
              text: t(`reachability.problem.${item.problem}`),
            })
          : null,
      ),
    ),
  );
}

function verdictBadge(ok, text) {
  const kind = ok === true ? "ok" : ok === false ? "failing" : "info";
  return h("span", { class: `badge verdict-${kind}`, text: text ?? t(`reachability.${kind}`) });
}

function onOff(value) {
  return t(value ? "reachability.on" : "reachability.off");
}

function reply(email) {
  return [email.smtp_code, email.smtp_text]
    .filter((part) => part !== null && part !== "")
    .join(" ");
}

function emailLine(email) {
  const said = reply(email);
  const parts = [
    tNodes("reachability.email_line", {
      about: t(`reachability.about.${email.about}`),
      address: h("span", { class: "address", text: email.address }),
      at: timeElement(email.at),
      state: h("span", {
        class: `badge delivery-${email.state}`,
        text: t(`delivery.${email.state}.label`),
      }),
    }),
  ];
  if (said) parts.push(" ", h("code", { class: "smtp-reply", text: said }));
  if (email.bounced_at) {
    const bounce = [email.bounce_status, email.bounce_text].filter(Boolean).join(" ");
    parts.push(
      " ",
      tNodes("reachability.bounced_at", {
        at: timeElement(email.bounced_at),
        said: h("code", { class: "bounce-text", text: bounce || "—" }),
      }),
    );
  }
  return h("p", {}, parts);
}

function facts(item) {
  const f = item.facts;
  switch (item.key) {
    case "emails_on":
      return h(
        "p",
        {},
        t("reachability.emails_facts", {
          account_offline: onOff(f.account.offline_message_email),
          account_missed: onOff(f.account.missed_conversation_email && f.missed_in_plan),
          own_offline: onOff(f.own.offline_message_email),
          own_missed: onOff(f.own.missed_conversation_email),
        }),
      );
    case "address_confirmed":
      return h(
        "p",
        {},
        h("span", { class: "address", text: f.email }),
        " — ",
        f.confirmed_at
          ? tNodes("reachability.confirmed_at", { at: timeElement(f.confirmed_at) })
          : t("reachability.not_confirmed"),
      );
    case "address_not_bouncing":
      if (!f.bounce) return h("p", { text: t("reachability.no_bounce") });
      return h(
        "p",
        {},
        tNodes("reachability.bounced_at", {
          at: timeElement(f.bounce.at),
          said: h("code", {
            class: "bounce-text",
            text: [f.bounce.status, f.bounce.bounce_text].filter(Boolean).join(" ") || "—",
          }),
        }),
      );
    case "push_subscribed":
      if (!f.subscriptions.length) return h("p", { text: t("push.none") });
      return h(
        "ul",
        { class: "plain" },
        f.subscriptions.map((s) => h("li", { text: s.device_name })),
      );
    case "devices_online":
      if (!f.devices.length) return h("p", { text: t("reachability.no_devices") });
      return h(
        "ul",
        { class: "plain" },
        f.devices.map((d) =>
          h(
            "li",
            {},
            t("reachability.device", {
              device: d.device_id,
              kind: t(`device.${d.kind}`),
              state: t(d.online ? "reachability.device_online" : "reachability.device_offline"),
            }),
          ),
        ),
      );
    case "sender_domain":
      if (f.state === "not_applicable" || f.state === "checking") {
        return h("p", { text: t(`reachability.domain.${f.state}`) });
      }
      return h(
        "ul",
        { class: "plain" },
        f.findings.map((finding) =>
          h(
            "li",
            {},
            h("span", { class: `badge finding-${finding.status}`, text: finding.check }),
            finding.summary
              ? ` ${finding.summary}`
              : ` ${t(`reachability.finding.${finding.status}`)}`,
          ),
        ),
      );
    case "last_email":
      return f.email ? emailLine(f.email) : h("p", { text: t("reachability.no_email") });
    case "test_notification":
      return testFacts(f.test);
    default:
      return null;
  }
}

function testFacts(test) {
  if (!test) return h("p", { text: t("reachability.no_test") });
  return h(
    "div",
    {},
    h("p", {}, tNodes("reachability.test_at", { at: timeElement(test.requested_at) })),
    test.email
      ? emailLine(test.email)
      : h("p", { text: t(`reachability.skipped.${test.email_skipped}`) }),
    test.pushes === null
      ? h("p", { text: t("reachability.pushes_waiting") })
      : test.pushes.length
        ? h(
            "ul",
            { class: "plain" },
            test.pushes.map((p) =>
              h("li", {
                dataset: { result: p.result },
                text: t(`push.result.${p.result}`, {
                  device: p.device_name,
                  status: p.status ?? "—",
                }),
              }),
            ),
          )
        : h("p", { text: t("reachability.no_pushes") }),
  );
}
