/*
 * The alerts banner, for owners and admins: a visitor's message reached nobody, or soon
 * cannot (docs/reachability.md). Read on logging in and whenever the socket says the
 * alerts changed; each open alert says what happened, how often, and can be dismissed.
 */

import { state, ui } from "./state.js";
import { t } from "./strings.js";
import { guarded, h } from "./dom.js";
import { api, isManager } from "./api.js";
import { shortTime } from "./time.js";

let loading = false;
let again = false;

export async function refreshAlerts() {
  if (!ui.alerts || !state.token || !isManager()) return;
  // A change announced while a read is under way may not be in its answer: read again.
  if (loading) {
    again = true;
    return;
  }
  loading = true;
  try {
    const { alerts } = await api("GET", "/alerts");
    renderAlerts(alerts.filter((alert) => alert.open));
  } catch {
    // The next alerts.changed frame or login reads them again.
  } finally {
    loading = false;
    if (again) {
      again = false;
      refreshAlerts();
    }
  }
}

function renderAlerts(open) {
  ui.alerts.replaceChildren(
    ...open.map((alert) =>
      h(
        "div",
        { class: "alert-item", dataset: { alertId: String(alert.id), cause: alert.cause } },
        h("p", {
          text: `${t(`alerts.cause.${alert.cause}`)} ${t("alerts.since", {
            time: shortTime(alert.raised_at),
            count: alert.occurrences,
          })}`,
        }),
        h("button", {
          type: "button",
          class: "ghost",
          text: t("alerts.dismiss"),
          onclick: guarded(async () => {
            await api("POST", `/alerts/${alert.id}/dismiss`);
            await refreshAlerts();
          }),
        }),
      ),
    ),
  );
  ui.alerts.hidden = open.length === 0;
}
