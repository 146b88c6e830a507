/*
 * Settings → notifications: the account's offline-message and missed-conversation e-mails,
 * their delay and the push's before them, when an idle agent is away, the nobody-online
 * alert and the reply time shown to visitors; owners and admins change them, agents only
 * read them. Business hours follow (hours.js). Owners and admins also get the team's "can
 * we be reached?" checklist (reachability.js), Settings → Webhooks (webhooks.js) and the
 * replies that came back by e-mail (replies.js).
 */

import { state, ui } from "./state.js";
import { t } from "./strings.js";
import { formatDuration } from "./time.js";
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
import { api, isManager } from "./api.js";
import { hoursSection } from "./hours.js";
import { current } from "./routing.js";
import { teamReachability } from "./reachability.js";
import { repliesSection } from "./replies.js";
import { webhooksSection } from "./webhooks.js";

export async function showSettings(seq) {
  ui.main.replaceChildren(
    page(t("settings.title"), h("p", { class: "muted", text: t("list.loading") })),
  );
  const [settings, account] = await Promise.all([
    api("GET", "/settings/notifications"),
    api("GET", "/account"),
  ]);
  if (!current(seq)) return;
  state.account = account;
  const manager = isManager();
  const offline = h("input", {
    type: "checkbox",
    role: "switch",
    class: "switch",
    checked: settings.offline_message_email,
    disabled: !manager,
  });
  const missed = h("input", {
    type: "checkbox",
    role: "switch",
    class: "switch",
    checked: settings.missed_conversation_email,
    disabled: !manager || !settings.missed_conversation_email_available,
  });
  const transcript = h("input", {
    type: "checkbox",
    role: "switch",
    class: "switch",
    checked: settings.visitor_transcript,
    disabled: !manager,
  });
  // Away after no activity, and nobody online within the hours (docs/reachability.md):
  // whole minutes, or off; a value set otherwise (through the API) is kept as it is.
  const minutesChoice = (seconds, minutes) => {
    const options = [["", t("settings.off")]];
    for (const m of minutes) options.push([String(m * 60), t("settings.minutes", { count: m })]);
    if (seconds !== null && !minutes.includes(seconds / 60))
      options.push([String(seconds), formatDuration(seconds)]);
    const chosen = select(options, seconds === null ? "" : String(seconds));
    chosen.value = seconds === null ? "" : String(seconds);
    chosen.disabled = !manager;
    return chosen;
  };
  const idleAfter = minutesChoice(settings.agent_idle_after, [5, 10, 15, 30, 60]);
  const nobodyOnline = minutesChoice(settings.alert_nobody_online_after, [15, 30, 60, 120]);
  const replyTime = h("input", {
    type: "checkbox",
    role: "switch",
    class: "switch",
    checked: settings.expected_reply_time,
    disabled: !manager,
  });
  const defaultDelay = settings.default_offline_email_delay;
  const chosen = settings.offline_email_delay;
  const inMinutes = (seconds) => seconds >= 60 && seconds % 60 === 0;
  const unit = select(
    [
      ["seconds", t("unit.seconds")],
      ["minutes", t("unit.minutes")],
    ],
    inMinutes(chosen ?? defaultDelay) ? "minutes" : "seconds",
  );
  const delay = h("input", {
    type: "number",
    min: "0",
    step: "any",
    inputmode: "decimal",
    class: "short",
    placeholder: t("settings.delay_placeholder"),
    value: chosen === null ? "" : String(inMinutes(chosen) ? chosen / 60 : chosen),
    disabled: !manager,
  });
  unit.disabled = !manager;
  unit.setAttribute("aria-label", t("settings.delay_unit"));
  delay.id = uid("delay");
  const delayHint = h("p", {
    class: "hint",
    id: `${delay.id}-hint`,
    text: t("settings.delay_hint", { default: formatDuration(defaultDelay) }),
  });
  delay.setAttribute("aria-describedby", delayHint.id);
  const pushDelay = h("input", {
    type: "number",
    min: "0",
    step: "any",
    inputmode: "decimal",
    class: "short",
    placeholder: t("settings.delay_placeholder"),
    value: settings.offline_push_delay === null ? "" : String(settings.offline_push_delay),
    disabled: !manager,
  });

  const CHOICES = [
    ["offline_message_email", t("profile.email_me_offline")],
    ["missed_conversation_email", t("profile.email_me_missed")],
    ["offline_message_push", t("push.offline_messages")],
    ["missed_conversation_push", t("push.missed")],
    ["unserved_conversation_push", t("push.unserved")],
  ];
  const defaults = CHOICES.map(([name, label]) => [
    name,
    h("input", { type: "checkbox", checked: settings.agent_defaults[name], disabled: !manager }),
    label,
  ]);
  const form = h(
    "form",
    { class: "stack", novalidate: true },
    h("p", { class: "muted", text: t("settings.intro") }),
    checkField(t("settings.offline"), offline, t("settings.offline_hint")),
    checkField(
      t("settings.missed"),
      missed,
      settings.missed_conversation_email_available
        ? t("settings.missed_hint")
        : t("settings.missed_unavailable", { plan: t(`plan.${account.plan}`) }),
    ),
    checkField(t("settings.transcript"), transcript, t("settings.transcript_hint")),
    h(
      "div",
      { class: "field" },
      h("label", { for: delay.id, text: t("settings.delay") }),
      h("div", { class: "inline" }, delay, unit),
      delayHint,
    ),
    field(
      t("settings.push_delay"),
      pushDelay,
      t("settings.push_delay_hint", {
        default: formatDuration(settings.default_offline_push_delay),
      }),
    ),
    field(t("settings.idle_after"), idleAfter, t("settings.idle_after_hint")),
    field(t("settings.nobody_online"), nobodyOnline, t("settings.nobody_online_hint")),
    checkField(t("settings.reply_time"), replyTime, t("settings.reply_time_hint")),
    h(
      "fieldset",
      { class: "stack agent-defaults" },
      h("legend", { text: t("settings.agent_defaults") }),
      h("p", { class: "hint", text: t("settings.agent_defaults_hint") }),
      defaults.map(([, box, label]) => checkField(label, box)),
    ),
    manager
      ? h(
          "div",
          { class: "actions" },
          h("button", { type: "submit", class: "primary", text: t("action.save") }),
        )
      : h("p", { class: "notice", text: t("settings.read_only") }),
  );
  if (!settings.missed_conversation_email_available) {
    missed.closest(".field").classList.add("unavailable");
  }
  onSubmit(form, async () => {
    let seconds = null;
    if (delay.value.trim() !== "") {
      const number = delay.valueAsNumber;
      if (!Number.isFinite(number) || number <= 0) {
        showOutcome(form, t("problem.offline_email_delay"), "alert");
        return;
      }
      seconds = unit.value === "minutes" ? number * 60 : number;
    }
    let pushSeconds = null;
    if (pushDelay.value.trim() !== "") {
      pushSeconds = pushDelay.valueAsNumber;
      if (!Number.isFinite(pushSeconds) || pushSeconds <= 0) {
        showOutcome(form, t("problem.offline_push_delay"), "alert");
        return;
      }
    }
    const body = {
      offline_message_email: offline.checked,
      offline_email_delay: seconds,
      offline_push_delay: pushSeconds,
      agent_defaults: Object.fromEntries(defaults.map(([name, box]) => [name, box.checked])),
      visitor_transcript: transcript.checked,
      agent_idle_after: idleAfter.value === "" ? null : Number(idleAfter.value),
      alert_nobody_online_after: nobodyOnline.value === "" ? null : Number(nobodyOnline.value),
      expected_reply_time: replyTime.checked,
    };
    if (settings.missed_conversation_email_available)
      body.missed_conversation_email = missed.checked;
    await submitting(form, () => api("PATCH", "/settings/notifications", body));
    showOutcome(form, t("outcome.saved"));
  });
  const [team, hooks, replies] = manager
    ? await Promise.all([teamReachability(), webhooksSection(), repliesSection()])
    : [null, null, null];
  if (!current(seq)) return;
  ui.main.replaceChildren(
    page(
      t("settings.title"),
      section(t("settings.notifications"), form),
      hoursSection(),
      team ? section(t("reachability.team_title"), team) : null,
      hooks,
      replies,
    ),
  );
}
