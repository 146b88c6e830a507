/*
 * The part of the URL after "#" picks the screen: #/conversations[/id], #/settings,
 * #/profile, #/agents, #/groups. Each screen shown takes the next number, so what an earlier
 * screen fetched is dropped when it arrives late.
 */

import { state, ui } from "./state.js";
import { errorText, h, reportProblem } from "./dom.js";
import { showSignedOut } from "./signed-out.js";
import { renderFolderTabs, showInbox } from "./inbox.js";
import { openConversation } from "./conversation.js";
import { showSettings } from "./settings.js";
import { showProfile } from "./profile.js";
import { showAgents } from "./agents.js";
import { showGroups } from "./groups.js";

function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  const [page = "conversations", id] = parts;
  if (page === "conversations") {
    const conversationId = /^[1-9][0-9]{0,17}$/.test(id || "") ? Number(id) : null;
    return { page, conversationId };
  }
  if (["settings", "profile", "agents", "groups"].includes(page)) return { page };
  return { page: "conversations", conversationId: null };
}

export function route() {
  if (!state.token) {
    const notice = state.notice;
    state.notice = null;
    if (ui.root) showSignedOut(notice);
    return;
  }
  if (!state.me || !ui.navLinks) return; // still logging in: startSession routes when ready
  const { page, conversationId } = parseRoute();
  for (const [name, link] of ui.navLinks) {
    if (name === page) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (page === "conversations") {
    if (state.screen !== "conversations") showInbox();
    openConversation(conversationId);
    return;
  }
  state.conversationId = null;
  state.conversation = null;
  state.notifications = null;
  const screens = {
    settings: showSettings,
    profile: showProfile,
    agents: showAgents,
    groups: showGroups,
  };
  state.screenSeq += 1;
  state.screen = page;
  renderFolderTabs();
  reportProblem(null);
  const seq = state.screenSeq;
  screens[page](seq).catch((error) => {
    if (seq === state.screenSeq && state.token) {
      ui.main.replaceChildren(
        h(
          "div",
          { class: "page" },
          h("p", { class: "outcome outcome-error", role: "alert", text: errorText(error) }),
        ),
      );
    }
  });
}

export function current(seq) {
  return seq === state.screenSeq && Boolean(state.token);
}
