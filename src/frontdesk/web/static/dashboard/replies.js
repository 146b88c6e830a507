/*
 * Settings → Replies by e-mail (docs/reply-by-email.md), for owners and admins: the newest
 * e-mails that came back to the account's reply addresses, each with what became of it
 * (posted, dropped, refused), why, and the SPF, DKIM and DMARC the receiving side found.
 */

import { h, section } from "./dom.js";
import { api } from "./api.js";
import { t } from "./strings.js";
import { shortTime, timeElement } from "./time.js";

const SHOWN = 50;

export async function repliesSection() {
  const received = await api("GET", `/inbound?limit=${SHOWN}`);
  const list = h("ul", { class: "inbound" });
  if (!received.length) {
    list.append(h("li", { class: "muted", text: t("replies.none") }));
  } else {
    list.append(...received.map(item));
  }
  return section(t("replies.title"), h("p", { class: "muted", text: t("replies.intro") }), list);
}

function item(email) {
  const tagClass =
    email.outcome === "posted"
      ? "tag tag-ok"
      : email.outcome === "refused"
        ? "tag tag-warn"
        : "tag";
  return h(
    "li",
    { class: "inbound-email", dataset: { outcome: email.outcome, reason: email.reason } },
    h(
      "div",
      { class: "inbound-head" },
      timeElement(email.received_at, shortTime(email.received_at)),
      h("span", { class: tagClass, text: t(`replies.outcome.${email.outcome}`) }),
      h("strong", { class: "inbound-sender", text: email.sender }),
      h("a", {
        href: `#/conversations/${email.conversation_id}`,
        text: t("replies.conversation", { id: email.conversation_id }),
      }),
    ),
    email.subject ? h("p", { class: "muted inbound-subject", text: email.subject }) : null,
    h("p", { class: "inbound-reason", text: reasonText(email.reason) }),
    h("p", {
      class: "muted inbound-auth",
      text: t("replies.auth", {
        spf: email.spf ?? "–",
        dkim: email.dkim ?? "–",
        dmarc: email.dmarc ?? "–",
        via: email.via,
      }),
    }),
  );
}

// "automatic:auto_submitted" → the words of "automatic", with the kind of machine after.
function reasonText(reason) {
  const [code, detail] = reason.split(":");
  const words = t(`replies.reason.${code}`);
  return detail ? `${words} (${detail})` : words;
}
