/*
 * Refreshing what the frames announce: one fetch of the folders (and of the open
 * conversation) after a burst of frames, never two at once.
 */

import { FOLDER_PAGE, FOLDERS, REFRESH_DEBOUNCE_MS } from "./config.js";
import { state, timers } from "./state.js";
import { api } from "./api.js";
import { renderFolderTabs, renderList } from "./inbox.js";
import { loadConversation } from "./conversation.js";

let refreshRunning = false;
let refreshAgain = false;

export function scheduleRefresh() {
  clearTimeout(timers.refresh);
  timers.refresh = setTimeout(runRefresh, REFRESH_DEBOUNCE_MS);
}

async function runRefresh() {
  if (!state.token) return;
  if (refreshRunning) {
    refreshAgain = true;
    return;
  }
  refreshRunning = true;
  try {
    await refreshNow();
  } finally {
    refreshRunning = false;
    if (refreshAgain) {
      refreshAgain = false;
      scheduleRefresh();
    }
  }
}

export function refreshNow() {
  return Promise.all([loadFolders(), state.conversationId ? loadConversation(false) : null]);
}

export async function loadFolders() {
  const answers = await Promise.all(
    FOLDERS.map((folder) =>
      api("GET", `/conversations?folder=${folder}&limit=${FOLDER_PAGE + 1}`)
        .then((answer) => answer.conversations)
        .catch(() => null),
    ),
  );
  if (!state.token) return;
  FOLDERS.forEach((folder, index) => {
    if (answers[index]) state.lists[folder] = answers[index];
  });
  renderFolderTabs();
  if (state.screen === "conversations") renderList();
}
