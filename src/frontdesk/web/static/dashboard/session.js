/*
 * The session: starting the page (a saved token or the login), following an address
 * confirmation link, logging in and out, and ending the session when the server, another
 * tab or the agent says so.
 */

import { browserDeviceId, DEVICES_EVERY_MS, FOLDERS, KEYS, store, stored } from "./config.js";
import { live, state, timers, ui } from "./state.js";
import { browserLocale, t, useLocale } from "./strings.js";
import { errorText } from "./dom.js";
import { api, loadAgents } from "./api.js";
import { showSignedOut } from "./signed-out.js";
import { refreshDevices, renderPresence, renderShell } from "./shell.js";
import { connectSocket, stopSocket } from "./socket.js";
import { loadFolders, scheduleRefresh } from "./refresh.js";
import { route } from "./routing.js";
import { loadNotifications, markReadIfNew } from "./conversation.js";
import { startServiceWorker } from "./push.js";

export async function boot() {
  state.deviceId = browserDeviceId();
  startServiceWorker();
  state.folder = FOLDERS.includes(stored(KEYS.folder)) ? stored(KEYS.folder) : "unserved";
  ui.root = document.getElementById("app");
  window.addEventListener("hashchange", () => {
    if (!location.hash.startsWith("#/confirm?")) {
      route();
      return;
    }
    followConfirmationLink().then((said) => {
      state.notice = said;
      route();
    });
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && state.token) {
      markReadIfNew(false);
      scheduleRefresh();
    }
  });
  window.addEventListener("storage", onStorage);
  window.addEventListener("online", () => {
    if (state.token && !live.socket) connectSocket();
  });
  const confirmed = await followConfirmationLink();
  const token = stored(KEYS.token);
  if (token) {
    try {
      state.notice = confirmed;
      await startSession(token);
      return;
    } catch {
      // The saved token no longer works (logged out elsewhere, server reset): log in again.
      store(KEYS.token, null);
      state.token = null;
    }
  }
  await useLocale(browserLocale());
  showSignedOut(confirmed);
}

// A confirmation or invitation e-mail links to #/confirm?token=…: following it proves
// the address, whether or not this browser is logged in. What to tell, or null.
async function followConfirmationLink() {
  const match = /^#\/confirm\?token=([^&]+)/.exec(location.hash);
  if (!match) return null;
  history.replaceState(null, "", "#/profile");
  await useLocale(browserLocale());
  try {
    const answer = await api("POST", "/auth/confirm-address", {
      token: decodeURIComponent(match[1]),
    });
    if (state.me && state.me.email === answer.email) state.me.email_confirmed = true;
    return t("confirm.done", { email: answer.email });
  } catch (error) {
    return errorText(error);
  }
}

export async function startSession(token) {
  state.token = token;
  let me;
  let account;
  try {
    [me, account] = await Promise.all([api("GET", "/me"), api("GET", "/account")]);
  } catch (error) {
    state.token = null;
    throw error;
  }
  store(KEYS.token, token);
  state.me = me;
  state.account = account;
  state.desiredStatus = stored(KEYS.status(me.id)) === "online" ? "online" : "offline";
  await useLocale(me.locale);
  await loadAgents().catch(() => {});
  renderShell();
  connectSocket();
  timers.devices = setInterval(() => {
    refreshDevices();
    if (state.conversationId) loadNotifications().catch(() => {});
  }, DEVICES_EVERY_MS);
  refreshDevices();
  route();
  loadFolders();
}

export function endSession(reason) {
  if (!state.token) return;
  stopSocket();
  for (const name of Object.keys(timers)) {
    clearTimeout(timers[name]);
    clearInterval(timers[name]);
  }
  store(KEYS.token, null);
  Object.assign(state, {
    token: null,
    me: null,
    account: null,
    agents: [],
    devices: [],
    lists: { unserved: null, mine: null, served: null, closed: null },
    conversationId: null,
    conversation: null,
    notifications: null,
    screen: null,
  });
  document.title = "Frontdesk";
  showSignedOut(reason ? t(`session.${reason}`) : null);
}

function onStorage(event) {
  if (event.key === KEYS.token && state.token && event.newValue !== state.token) {
    endSession(event.newValue ? null : "logged_out_elsewhere");
  }
  if (state.me && event.key === KEYS.status(state.me.id) && event.newValue) {
    // Another tab of this browser is the same device: keep its switch in step.
    state.desiredStatus = event.newValue === "online" ? "online" : "offline";
    renderPresence();
  }
}

export async function logOut() {
  try {
    await api("POST", "/auth/logout");
  } catch {
    // Logging out locally is what matters; a token the server lost is gone anyway.
  }
  endSession(null);
}
