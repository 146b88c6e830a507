/*
 * The inbox: the folder tabs of the sidebar (with their counts) and the list of the chosen
 * folder's conversations beside the open one.
 */

import { FOLDER_PAGE, FOLDERS, KEYS, store } from "./config.js";
import { state, ui } from "./state.js";
import { t } from "./strings.js";
import { shortTime, timeElement } from "./time.js";
import { h } from "./dom.js";
import { agentName, visitorName } from "./api.js";

export function renderFolderTabs() {
  if (!ui.tabs) return;
  ui.tablist.classList.toggle("elsewhere", state.screen !== "conversations");
  for (const [folder, { tab, count }] of ui.tabs) {
    const list = state.lists[folder];
    const selected = folder === state.folder;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    if (state.screen === "conversations") tab.setAttribute("aria-controls", "folder-panel");
    else tab.removeAttribute("aria-controls");
    count.textContent = list
      ? list.length > FOLDER_PAGE
        ? `${FOLDER_PAGE}+`
        : String(list.length)
      : "";
    const unread = list ? list.some((c) => c.unread) : false;
    count.classList.toggle("has-unread", unread && folder !== "closed");
  }
  const waiting = state.lists.unserved ? state.lists.unserved.length : 0;
  document.title = waiting ? `(${waiting}) Frontdesk` : "Frontdesk";
}

export function chooseFolder(folder) {
  state.folder = folder;
  store(KEYS.folder, folder);
  renderFolderTabs();
  if (state.screen !== "conversations") {
    location.hash = state.conversationId
      ? `#/conversations/${state.conversationId}`
      : "#/conversations";
  } else {
    renderList();
  }
}

export function onFolderKey(event) {
  const index = FOLDERS.indexOf(event.target.dataset.folder);
  if (index < 0) return;
  const moves = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1 };
  let next = null;
  if (event.key in moves) next = (index + moves[event.key] + FOLDERS.length) % FOLDERS.length;
  else if (event.key === "Home") next = 0;
  else if (event.key === "End") next = FOLDERS.length - 1;
  if (next === null) return;
  event.preventDefault();
  chooseFolder(FOLDERS[next]);
  ui.tabs.get(FOLDERS[next]).tab.focus();
}

export function showInbox() {
  state.screenSeq += 1;
  state.screen = "conversations";
  ui.list = h("ul", { class: "conversation-list" });
  ui.listTitle = h("h1", { class: "pane-title" });
  ui.listEmpty = h("p", { class: "empty", hidden: true });
  ui.conversationPane = h("section", {
    class: "conversation-pane",
    "aria-label": t("conversation.label"),
  });
  ui.main.replaceChildren(
    h(
      "div",
      { class: "inbox" },
      h(
        "section",
        {
          class: "list-pane",
          id: "folder-panel",
          role: "tabpanel",
          "aria-labelledby": "folder-title",
        },
        ui.listTitle,
        ui.list,
        ui.listEmpty,
      ),
      ui.conversationPane,
    ),
  );
  ui.listTitle.id = "folder-title";
  ui.builtFor = null;
  renderFolderTabs();
  renderList();
}

export function renderList() {
  if (state.screen !== "conversations" || !ui.list) return;
  const folder = state.folder;
  ui.listTitle.textContent = t(`folder.${folder}`);
  const conversations = state.lists[folder];
  const focusedId = document.activeElement?.dataset?.conversationId;
  ui.list.replaceChildren();
  if (conversations === null) {
    ui.listEmpty.hidden = false;
    ui.listEmpty.textContent = t("list.loading");
    return;
  }
  ui.listEmpty.hidden = conversations.length > 0;
  ui.listEmpty.textContent = t(`list.empty.${folder}`);
  for (const conversation of conversations.slice(0, FOLDER_PAGE)) {
    ui.list.append(listItem(conversation));
  }
  if (focusedId) {
    const again = ui.list.querySelector(`[data-conversation-id="${CSS.escape(focusedId)}"]`);
    if (again) again.focus();
  }
}

function listItem(conversation) {
  const visitor = conversation.visitor;
  const last = conversation.last_message;
  const active = conversation.id === state.conversationId;
  let preview = t("list.no_messages");
  if (last) {
    const prefix = last.author === "agent" ? `${agentName(last.agent_id)}: ` : "";
    preview = prefix + last.text.slice(0, 240);
  }
  const link = h(
    "a",
    {
      href: `#/conversations/${conversation.id}`,
      class: `conversation-item${active ? " active" : ""}${conversation.unread ? " unread" : ""}`,
      dataset: { conversationId: String(conversation.id) },
      "aria-current": active ? "true" : null,
    },
    h(
      "span",
      { class: "item-top" },
      h("span", { class: "item-name", text: visitorName(visitor) }),
      timeElement(conversation.last_message_at, shortTime(conversation.last_message_at)),
    ),
    h("span", {
      class: `item-preview${last && last.author === "system" ? " system" : ""}`,
      text: preview,
    }),
    h(
      "span",
      { class: "item-meta" },
      h("span", {
        class: `presence-dot ${visitor.on_website ? "on" : "off"}`,
        "aria-hidden": "true",
      }),
      h("span", { text: visitor.on_website ? t("visitor.on_website") : t("visitor.left") }),
      conversation.unread ? h("span", { class: "unread-mark", text: t("list.unread") }) : null,
    ),
  );
  return h("li", {}, link);
}
