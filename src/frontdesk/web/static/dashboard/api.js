/*
 * The HTTP API (/api/v1) as the dashboard calls it: the session's token on every request, an
 * error as an ApiError with the server's code and words, and the session ended when the
 * server says the token no longer works. Also the agents' names, as the page shows them.
 */

import { API, MANAGER_ROLES, SESSION_END_GRACE_MS, SESSION_ENDED } from "./config.js";
import { state } from "./state.js";
import { t } from "./strings.js";
import { endSession } from "./session.js";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(API + path, { method, headers, body: payload, cache: "no-store" });
  } catch {
    throw new ApiError(0, "network", "network error");
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = data?.error || {};
    const failure = new ApiError(
      response.status,
      error.code || `http_${response.status}`,
      error.message || response.statusText,
      error.details,
    );
    // A wrong current password or a failed login is a 401 too, but it ends no session.
    if (response.status === 401 && SESSION_ENDED.has(failure.code) && state.token) {
      // The socket may be about to say why (agent_deactivated): its frames cross between
      // processes through Redis and can come a moment after this answer. It is given that
      // moment; then the session ends as expired, unless the socket has ended it first.
      setTimeout(() => endSession("expired"), SESSION_END_GRACE_MS);
    }
    throw failure;
  }
  return data;
}

export function isManager() {
  return Boolean(state.me && MANAGER_ROLES.has(state.me.role));
}

export function agentName(agentId) {
  if (state.me && agentId === state.me.id) return t("agent.you");
  const agent = state.agents.find((a) => a.id === agentId);
  return agent ? agent.name : t("agent.unknown", { id: agentId });
}

export function visitorName(visitor) {
  return visitor.name || visitor.email || t("visitor.number", { id: visitor.id });
}

export async function loadAgents() {
  state.agents = await api("GET", "/agents");
}
