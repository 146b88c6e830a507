/*
 * The agent WebSocket: it keeps this browser's device online or offline as its switch says,
 * and its frames tell the page what to fetch again. It reconnects after a pause that grows,
 * with jitter, and ends the session when the server refuses it.
 */

import { onConversationCreated, onMessageCreated } from "./alerts.js";
import {
  ACTIVITY_EVERY_MS,
  API,
  KEYS,
  PING_EVERY_MS,
  RECONNECT_DELAYS_S,
  store,
} from "./config.js";
import { live, state } from "./state.js";
import { loadAgents } from "./api.js";
import { endSession } from "./session.js";
import { refreshDevices, renderDevices, renderPresence } from "./shell.js";
import { scheduleRefresh } from "./refresh.js";
import { renderAgentRows } from "./agents.js";
import { refreshAlerts } from "./banner.js";

export function connectSocket() {
  if (!state.token) return;
  live.stopped = false;
  clearTimeout(live.reconnectTimer);
  const query = new URLSearchParams({
    device_id: state.deviceId,
    kind: "web",
    status: state.desiredStatus,
  });
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  let socket;
  try {
    // The token as a subprotocol, not in the URL that servers and proxies write to logs.
    socket = new WebSocket(`${scheme}//${location.host}${API}/agent/ws?${query}`, [
      "frontdesk",
      `frontdesk.token.${state.token}`,
    ]);
  } catch {
    scheduleReconnect();
    return;
  }
  live.socket = socket;
  setConnection("connecting");
  socket.addEventListener("message", (event) => {
    if (live.socket === socket) onFrame(event.data);
  });
  socket.addEventListener("close", (event) => {
    if (live.socket !== socket) return;
    live.socket = null;
    clearInterval(live.pingTimer);
    if (event.code === 4401) {
      endSession(event.reason === "agent_deactivated" ? "deactivated" : "expired");
    } else if (!live.stopped) {
      scheduleReconnect();
    }
  });
}

export function stopSocket() {
  live.stopped = true;
  clearTimeout(live.reconnectTimer);
  clearInterval(live.pingTimer);
  const socket = live.socket;
  live.socket = null;
  if (socket) socket.close(1000, "logged out");
}

function scheduleReconnect() {
  const base = RECONNECT_DELAYS_S[Math.min(live.attempt, RECONNECT_DELAYS_S.length - 1)];
  live.attempt += 1;
  // Full jitter: anywhere up to twice the step. When a proxy restart closes every
  // dashboard at once, they come back spread over two seconds, not all in the same one.
  const delay = Math.max(0.25, Math.random() * base * 2);
  setConnection("reconnecting", delay);
  live.reconnectTimer = setTimeout(connectSocket, delay * 1000);
}

function setConnection(connection, seconds = 0) {
  state.connection = connection;
  state.reconnectInSeconds = seconds;
  renderPresence();
}

function send(frame) {
  if (live.socket && live.socket.readyState === WebSocket.OPEN) {
    live.socket.send(JSON.stringify(frame));
    return true;
  }
  return false;
}

function sendVisibility() {
  send({ type: "visibility", visible: document.visibilityState !== "hidden" });
}

document.addEventListener("visibilitychange", () => {
  sendVisibility();
  if (document.visibilityState !== "hidden") noteActivity();
});

// Activity: the agent typed, clicked, scrolled or brought the tab into view. The server
// makes an agent away when every online device has had none for the account's
// agent_idle_after (docs/reachability.md), so it is reported at most every 30 s, or a
// third of that threshold if shorter; loading the page counts.
let activityPending = true;
let activitySentAt = 0;
let activityTimer = 0;

function activityEveryMs() {
  const idleAfter = state.idleAfter;
  return idleAfter
    ? Math.min(ACTIVITY_EVERY_MS, Math.max(100, (idleAfter * 1000) / 3))
    : ACTIVITY_EVERY_MS;
}

function noteActivity() {
  activityPending = true;
  const wait = activitySentAt + activityEveryMs() - Date.now();
  if (wait <= 0) sendActivity();
  else if (!activityTimer) activityTimer = setTimeout(sendActivity, wait);
}

function sendActivity() {
  clearTimeout(activityTimer);
  activityTimer = 0;
  if (activityPending && send({ type: "activity" })) {
    activityPending = false;
    activitySentAt = Date.now();
  }
}

for (const type of ["keydown", "pointerdown", "pointermove", "wheel", "touchstart", "focus"]) {
  window.addEventListener(type, noteActivity, { passive: true, capture: true });
}

export function setDesiredStatus(status) {
  state.desiredStatus = status;
  if (state.me) store(KEYS.status(state.me.id), status);
  // The click that moved the switch is activity, reported before the status whatever the
  // throttle says: an agent who just went online must not count as away.
  activityPending = true;
  sendActivity();
  // Without an open socket the next connection carries the choice in its query.
  send({ type: "status", status });
  renderPresence();
  renderDevices();
}

function onFrame(text) {
  let frame;
  try {
    frame = JSON.parse(text);
  } catch {
    return;
  }
  switch (frame.type) {
    case "hello":
      live.attempt = 0;
      state.confirmedStatus = frame.status;
      setConnection("connected");
      clearInterval(live.pingTimer);
      live.pingTimer = setInterval(() => send({ type: "ping" }), PING_EVERY_MS);
      // The switch moved while the socket was connecting: the query carried the old choice.
      if (frame.status !== state.desiredStatus)
        send({ type: "status", status: state.desiredStatus });
      // Whether the agent can see this tab: a conversation left unserved reminds by push
      // only agents none of whose dashboards is in view (docs/push.md).
      sendVisibility();
      // Activity while the socket was away (or the page's loading) is reported now.
      sendActivity();
      refreshDevices();
      // Whatever happened while the socket was away was not announced to this page.
      scheduleRefresh();
      break;
    case "visibility":
    case "activity":
      break;
    case "alerts.changed":
      refreshAlerts();
      break;
    case "status":
      state.confirmedStatus = frame.status;
      refreshDevices();
      break;
    case "presence.changed":
      if (frame.agent_id !== undefined) {
        if (state.me && frame.agent_id === state.me.id) refreshDevices();
        const agent = state.agents.find((a) => a.id === frame.agent_id);
        if (agent) {
          agent.online = frame.online;
          // Offline or away: the list's next read says which.
          agent.state = frame.online
            ? "online"
            : agent.state === "online"
              ? "offline"
              : agent.state;
        }
        if (state.screen === "agents") {
          renderAgentRows();
          if (!frame.online) loadAgents().then(renderAgentRows, () => {});
        }
      }
      // Visitors arriving or leaving change the lists; an agent coming online can call off
      // an offline e-mail, which the open conversation's "Who was told, and how" shows.
      scheduleRefresh();
      break;
    case "conversation.created":
      onConversationCreated(frame.conversation);
      scheduleRefresh();
      break;
    case "message.created":
      onMessageCreated(frame.message);
      scheduleRefresh();
      break;
    case "conversation.updated":
    case "conversation.read":
      scheduleRefresh();
      break;
    case "resync":
      // The server's live frames were interrupted (its hub lost Redis): folders, counts,
      // devices and who is online are read again, not trusted from the frames that came.
      refreshDevices();
      loadAgents()
        .then(() => {
          if (state.screen === "agents") renderAgentRows();
        })
        .catch(() => {});
      scheduleRefresh();
      break;
    case "agent.deactivated":
      loadAgents()
        .then(() => {
          if (state.screen === "agents") renderAgentRows();
        })
        .catch(() => {});
      break;
    default:
      break;
  }
}
