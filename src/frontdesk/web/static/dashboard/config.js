/*
 * What the dashboard is told and what it keeps: the server's configuration (from the page's
 * data-config attribute), the tunables with the reason for each, and this browser's
 * localStorage (the session's token, the device id, the chosen language and folder, and each
 * agent's online switch).
 */

export const API = "/api/v1";
export const FOLDERS = ["unserved", "mine", "served", "closed"];
// Fetch one more than is shown, so a full folder says "100+" instead of a wrong count.
export const FOLDER_PAGE = 100;
// Frames come in bursts (a reply announces a system message, the reply and an update):
// one fetch after the burst instead of one per frame.
export const REFRESH_DEBOUNCE_MS = 150;
// Below uvicorn's 20 s ping timeout, so idle proxies never see a silent socket.
export const PING_EVERY_MS = 25_000;
// Activity is reported at most this often (a third of agent_idle_after if shorter).
export const ACTIVITY_EVERY_MS = 30_000;
// Another device's lease can lapse without any frame (the agent stays online), so the
// list of this agent's devices is read again this often.
export const DEVICES_EVERY_MS = 30_000;
export const RECONNECT_DELAYS_S = [1, 2, 4, 8, 15, 30];
const DEVICE_ID = /^[A-Za-z0-9._:-]{1,100}$/;
export const SESSION_ENDED = new Set(["not_authenticated", "invalid_token", "token_expired"]);
// How long a refused request waits for the socket to say why the session ended (api.js).
export const SESSION_END_GRACE_MS = 1000;
export const MANAGER_ROLES = new Set(["owner", "admin"]);
export const ROLES = ["agent", "admin", "owner"];
export const PLANS = ["free", "standard", "pro"];
export const LANGUAGE_NAMES = { en: "English", de: "Deutsch", cs: "Čeština" };
export const KEYS = {
  token: "frontdesk.token",
  device: "frontdesk.device_id",
  locale: "frontdesk.locale",
  folder: "frontdesk.folder",
  alerts: "frontdesk.alerts",
  status: (agentId) => `frontdesk.status.${agentId}`,
};
export const CONFIG = readConfig();

function readConfig() {
  const fallback = { version: "", locales: ["en", "de", "cs"], mailbox: false };
  try {
    return { ...fallback, ...JSON.parse(document.body.dataset.config || "{}") };
  } catch {
    return fallback;
  }
}

export function stored(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

export function store(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // Storage refused (private mode, quota): the session then lasts as long as the page.
  }
}

export function browserDeviceId() {
  let id = stored(KEYS.device);
  if (!id || !DEVICE_ID.test(id)) {
    const bytes = new Uint8Array(6);
    crypto.getRandomValues(bytes);
    id = `web-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
    store(KEYS.device, id);
  }
  return id;
}
