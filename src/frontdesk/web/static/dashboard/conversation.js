/*
 * The open conversation: its messages (the newest page, earlier ones on asking), the
 * visitor's details, joining, replying and closing, and marking it read while it is looked at.
 */

import { state, ui } from "./state.js";
import { t } from "./strings.js";
import { shortTime, timeElement } from "./time.js";
import { detail, errorText, guarded, h, submitting, uid } from "./dom.js";
import { agentName, api, ApiError, visitorName } from "./api.js";
import { refreshNow } from "./refresh.js";
import { chooseFolder, renderList } from "./inbox.js";
import { renderWhy } from "./why.js";

export function openConversation(id) {
  if (id === null) {
    state.conversationId = null;
    state.conversation = null;
    state.notifications = null;
    ui.builtFor = null;
    ui.conversationPane.replaceChildren(
      h(
        "div",
        { class: "placeholder" },
        h("h2", { text: t("conversation.none_title") }),
        h("p", { text: t("conversation.none_text") }),
      ),
    );
    renderList();
    return;
  }
  if (id === state.conversationId && ui.builtFor === id) return;
  state.conversationId = id;
  state.conversation = null;
  state.earlier = [];
  state.earlierMore = false;
  state.notifications = null;
  state.conversationError = null;
  buildConversationPane(id);
  renderList();
  loadConversation(true).catch(() => {});
}

export async function loadConversation(opening) {
  const id = state.conversationId;
  if (id === null) return;
  let conversation;
  let log;
  try {
    [conversation, log] = await Promise.all([
      api("GET", `/conversations/${id}`),
      api("GET", `/notifications?conversation_id=${id}`),
    ]);
  } catch (error) {
    if (state.conversationId !== id) return;
    if (error instanceof ApiError && error.status === 404) {
      ui.conversationPane.replaceChildren(
        h("div", { class: "placeholder" }, h("h2", { text: t("conversation.not_found") })),
      );
      ui.builtFor = null;
    } else {
      showConversationError(error);
    }
    return;
  }
  if (state.conversationId !== id || state.screen !== "conversations") return;
  keepEarlier(state.conversation, conversation);
  state.conversation = conversation;
  state.notifications = log.notifications;
  // Opened from a link (an e-mail, a bookmark): show the folder it is in, so the list
  // and the conversation agree.
  if (opening && conversation.folder !== state.folder) chooseFolder(conversation.folder);
  renderConversation();
  renderWhy();
  markReadIfNew(opening);
}

export async function loadNotifications() {
  const id = state.conversationId;
  if (id === null || state.screen !== "conversations") return;
  const log = await api("GET", `/notifications?conversation_id=${id}`);
  if (state.conversationId !== id) return;
  state.notifications = log.notifications;
  renderWhy();
}

// "Opened in the dashboard" (docs/spec.md section 3): on opening, and again for messages that
// arrive while the conversation is open in a tab someone is looking at.
export function markReadIfNew(opening) {
  const conversation = state.conversation;
  if (!conversation || document.visibilityState !== "visible") return;
  const newest = conversation.messages.length
    ? conversation.messages[conversation.messages.length - 1].id
    : null;
  if (newest === null) return;
  if (!opening && (conversation.last_read_message_id ?? 0) >= newest) return;
  conversation.last_read_message_id = newest;
  api("POST", `/conversations/${conversation.id}/read`).catch(() => {
    conversation.last_read_message_id = null;
  });
}

function buildConversationPane(id) {
  ui.builtFor = id;
  ui.convHeading = h("h2", {
    tabindex: "-1",
    class: "conversation-title",
    text: t("list.loading"),
  });
  ui.convSub = h("p", { class: "conversation-sub" });
  ui.convActions = h("div", { class: "conversation-actions" });
  ui.convError = h("div", { class: "conversation-error" });
  ui.messages = h("ol", { class: "messages", "aria-label": t("conversation.messages") });
  ui.visitorDetails = h("dl", { class: "details" });
  ui.why = h("div", { class: "why-body" });
  const whyHeading = h("h3", { id: uid("why"), text: t("why.title") });
  const replyBox = h("textarea", { rows: 3, name: "reply", id: uid("reply") });
  const sendButton = h("button", { type: "submit", class: "primary", text: t("action.send") });
  ui.reply = replyBox;
  ui.replyForm = h(
    "form",
    { class: "reply" },
    h("label", { for: replyBox.id, text: t("conversation.reply") }),
    replyBox,
    h(
      "div",
      { class: "reply-actions" },
      h("span", { class: "hint", text: t("conversation.reply_hint") }),
      sendButton,
    ),
  );
  replyBox.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      ui.replyForm.requestSubmit();
    }
  });
  ui.replyForm.addEventListener("submit", guarded(sendReply, showConversationError));
  ui.closedNote = h("p", {
    class: "closed-note",
    hidden: true,
    text: t("conversation.closed_note"),
  });
  ui.conversationPane.replaceChildren(
    h(
      "header",
      { class: "conversation-header" },
      h("div", { class: "conversation-heading" }, ui.convHeading, ui.convSub),
      ui.convActions,
    ),
    ui.convError,
    h(
      "div",
      { class: "conversation-body" },
      h("div", { class: "thread" }, ui.messages, ui.closedNote, ui.replyForm),
      h(
        "aside",
        { class: "conversation-aside", "aria-label": t("conversation.about") },
        h(
          "section",
          { class: "aside-section", "aria-labelledby": "visitor-heading" },
          h("h3", { id: "visitor-heading", text: t("visitor.title") }),
          ui.visitorDetails,
        ),
        h(
          "section",
          { class: "aside-section why", "aria-labelledby": whyHeading.id },
          whyHeading,
          ui.why,
        ),
      ),
    ),
  );
}

function renderConversation() {
  const conversation = state.conversation;
  if (!conversation || ui.builtFor !== conversation.id) return;
  const visitor = conversation.visitor;
  ui.convHeading.textContent = visitorName(visitor);
  const status = h("span", {
    class: `badge status-${conversation.status}`,
    text: t(`status.${conversation.status}`),
  });
  const sub = [status];
  if (conversation.assignee_id !== null) {
    sub.push(" ", t("conversation.assignee", { name: agentName(conversation.assignee_id) }));
  }
  ui.convSub.replaceChildren(...sub);

  ui.convActions.replaceChildren();
  if (conversation.status === "unserved") {
    ui.convActions.append(
      h("button", {
        type: "button",
        class: "primary",
        text: t("action.join"),
        onclick: guarded(join, showConversationError),
      }),
    );
  }
  if (conversation.status !== "closed") {
    ui.convActions.append(
      h("button", {
        type: "button",
        text: t("action.close"),
        onclick: guarded(closeConversation, showConversationError),
      }),
    );
  }

  ui.visitorDetails.replaceChildren(
    detail(t("visitor.name"), visitor.name || "—"),
    detail(t("visitor.email"), visitor.email || "—"),
    detail(t("visitor.page"), visitor.page_url || "—", "url"),
    detail(
      t("visitor.presence"),
      h(
        "span",
        {},
        h("span", {
          class: `presence-dot ${visitor.on_website ? "on" : "off"}`,
          "aria-hidden": "true",
        }),
        visitor.on_website ? t("visitor.on_website") : t("visitor.left"),
      ),
    ),
    detail(t("conversation.started"), timeElement(conversation.created_at)),
  );

  const closed = conversation.status === "closed";
  ui.closedNote.hidden = !closed;
  ui.replyForm.hidden = closed;

  renderMessages();
}

// The conversation's newest page of messages comes with it; older pages are fetched on
// asking ("Show earlier messages") and kept while the conversation stays open.
function shownMessages() {
  const page = state.conversation.messages;
  const earlier = state.earlier || [];
  if (!earlier.length) return { messages: page, more: state.conversation.has_earlier };
  const last = earlier[earlier.length - 1].id;
  return { messages: [...earlier, ...page.filter((m) => m.id > last)], more: state.earlierMore };
}

function renderMessages(keepFromBottom) {
  const scroller = ui.messages;
  const pinned = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
  const firstFill = !scroller.childElementCount;
  const { messages, more } = shownMessages();
  const items = messages.map(messageItem);
  if (more && messages.length) {
    items.unshift(
      h(
        "li",
        { class: "earlier" },
        h("button", {
          type: "button",
          class: "link-button",
          text: t("conversation.earlier"),
          onclick: guarded(() => loadEarlier(messages[0].id), showConversationError),
        }),
      ),
    );
  }
  scroller.replaceChildren(...items);
  if (keepFromBottom !== undefined) scroller.scrollTop = scroller.scrollHeight - keepFromBottom;
  else if (pinned || firstFill) scroller.scrollTop = scroller.scrollHeight;
}

// Earlier messages were asked for: the messages of the page shown so far that the new
// page no longer reaches (newer ones pushed them out) join them, so none goes missing.
function keepEarlier(old, fresh) {
  if (!old || old.id !== fresh.id || !state.earlier.length) return;
  const first = fresh.messages.length ? fresh.messages[0].id : Infinity;
  const last = state.earlier[state.earlier.length - 1].id;
  state.earlier.push(...old.messages.filter((m) => m.id > last && m.id < first));
}

async function loadEarlier(beforeId) {
  const id = state.conversationId;
  const page = await api("GET", `/conversations/${id}?before=${beforeId}`);
  if (state.conversationId !== id || !state.conversation) return;
  state.earlier = [...page.messages, ...(state.earlier || [])];
  state.earlierMore = page.has_earlier;
  const scroller = ui.messages;
  renderMessages(scroller.scrollHeight - scroller.scrollTop);
}

function messageItem(message) {
  const author =
    message.author === "visitor"
      ? visitorName(state.conversation.visitor)
      : message.author === "agent"
        ? agentName(message.agent_id)
        : t("message.system");
  return h(
    "li",
    { class: `message message-${message.author}`, dataset: { messageId: String(message.id) } },
    h(
      "div",
      { class: "message-meta" },
      h("span", { class: "message-author", text: author }),
      timeElement(message.created_at, shortTime(message.created_at)),
    ),
    h("p", { class: "message-text", text: message.text }),
  );
}

function showConversationError(error) {
  if (!ui.convError) return;
  ui.convError.replaceChildren(
    h("p", { class: "outcome outcome-error", role: "alert", text: errorText(error) }),
  );
}

async function join() {
  const id = state.conversationId;
  ui.convError.replaceChildren();
  await api("POST", `/conversations/${id}/join`);
  // The conversation is now the caller's: follow it to Mine so it stays in the list.
  chooseFolder("mine");
  await refreshNow();
  if (ui.reply && !ui.replyForm.hidden) ui.reply.focus();
}

async function closeConversation() {
  const id = state.conversationId;
  ui.convError.replaceChildren();
  await api("POST", `/conversations/${id}/close`);
  await refreshNow();
  if (ui.convHeading) ui.convHeading.focus();
}

async function sendReply(event) {
  event.preventDefault();
  const text = ui.reply.value;
  if (!text.trim()) return;
  const id = state.conversationId;
  const wasUnserved = state.conversation && state.conversation.status === "unserved";
  ui.convError.replaceChildren();
  await submitting(ui.replyForm, async () => {
    await api("POST", `/conversations/${id}/messages`, { text });
    if (state.conversationId === id) ui.reply.value = "";
  });
  // A reply to an unserved conversation joins it first.
  if (wasUnserved) chooseFolder("mine");
  await refreshNow();
  if (ui.reply) ui.reply.focus();
}
