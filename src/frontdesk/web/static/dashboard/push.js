/*
 * Push notifications (docs/push.md): the service worker that shows them, the profile's
 * section that subscribes this browser, lists the agent's browsers and phones with what
 * their push service answered last, removes one, sends a test push, and switches the
 * agent's own offline-message pushes on and off.
 */

import { state } from "./state.js";
import { t } from "./strings.js";
import {
  Refusal,
  checkField,
  errorText,
  guarded,
  h,
  onSubmit,
  showOutcome,
  submitting,
} from "./dom.js";
import { api } from "./api.js";
import { timeElement } from "./time.js";
import { alertsOn, setAlerts } from "./alerts.js";

const CONVERSATION_HASH = /^#\/conversations(\/[1-9][0-9]{0,17})?$/;

// The service worker, registered for the dashboard's scope; a click on a notification
// makes it tell this tab which conversation to open.
export function startServiceWorker() {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register("/sw.js", { scope: "/app" }).catch(() => {
    // No service worker (a browser that refuses them): no pushes, the rest works.
  });
  navigator.serviceWorker.addEventListener("message", (event) => {
    const said = event.data;
    if (said?.type === "frontdesk.open" && CONVERSATION_HASH.test(said.hash ?? "")) {
      location.hash = said.hash;
    }
  });
}

export function pushSupported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

// "Chrome · Android": the browser and system this page runs in, to tell devices apart.
export function thisDeviceName() {
  const agent = navigator.userAgent;
  const browser =
    [
      ["Edg/", "Edge"],
      ["OPR/", "Opera"],
      ["Firefox/", "Firefox"],
      ["Chrome/", "Chrome"],
      ["Safari/", "Safari"],
    ].find(([mark]) => agent.includes(mark))?.[1] ?? "Browser";
  const system =
    [
      ["Android", "Android"],
      ["iPhone", "iPhone"],
      ["iPad", "iPad"],
      ["CrOS", "ChromeOS"],
      ["Windows", "Windows"],
      ["Mac OS", "macOS"],
      ["Linux", "Linux"],
    ].find(([mark]) => agent.includes(mark))?.[1] ?? null;
  return system ? `${browser} · ${system}` : browser;
}

function keyBytes(base64url) {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

// Subscribes this browser at its push service and hands the subscription to Frontdesk.
async function subscribeHere() {
  if (!pushSupported()) throw new Refusal(t("push.unsupported"));
  if ((await Notification.requestPermission()) !== "granted") {
    throw new Refusal(t("push.permission_denied"));
  }
  const registration = await navigator.serviceWorker.register("/sw.js", { scope: "/app" });
  const { public_key: key } = await api("GET", "/push/vapid-key");
  let subscription;
  try {
    subscription = await registration.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: keyBytes(key),
    });
  } catch {
    throw new Refusal(t("push.service_unreachable"));
  }
  await api("POST", "/me/push-subscriptions", {
    ...subscription.toJSON(),
    device_name: thisDeviceName(),
    device_id: state.deviceId,
  });
}

export function pushSection(mine, subscriptions) {
  const list = h("ul", { class: "push-devices" });
  const wanted = h("input", { type: "checkbox", checked: mine.offline_message_push });
  const missed = h("input", { type: "checkbox", checked: mine.missed_conversation_push });
  const unserved = h("input", { type: "checkbox", checked: mine.unserved_conversation_push });
  const inTab = h("input", { type: "checkbox", checked: alertsOn() });
  inTab.addEventListener("change", () => {
    setAlerts(inTab.checked);
    // The system notification needs the browser's permission: asked on this click.
    if (inTab.checked && "Notification" in window && Notification.permission === "default") {
      Notification.requestPermission().catch(() => {});
    }
  });
  const choice = h(
    "form",
    { class: "stack" },
    checkField(t("push.offline_messages"), wanted, t("push.offline_messages_hint")),
    checkField(t("push.missed"), missed, t("push.missed_hint")),
    checkField(t("push.unserved"), unserved, t("push.unserved_hint")),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary", text: t("action.save") }),
    ),
  );
  onSubmit(choice, async () => {
    await submitting(choice, () =>
      api("PATCH", "/me/notifications", {
        offline_message_push: wanted.checked,
        missed_conversation_push: missed.checked,
        unserved_conversation_push: unserved.checked,
      }),
    );
    showOutcome(choice, t("outcome.saved"));
  });
  const devices = h(
    "form",
    { class: "stack" },
    h("h3", { text: t("push.devices") }),
    list,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary", text: t("push.subscribe_here") }),
      h("button", { type: "button", class: "push-test", text: t("push.send_test") }),
    ),
  );
  const refresh = async () => renderDevices(list, await api("GET", "/me/push-subscriptions"));
  onSubmit(devices, async () => {
    await submitting(devices, subscribeHere);
    await refresh();
    showOutcome(devices, t("push.subscribed"));
  });
  devices.querySelector(".push-test").addEventListener("click", async () => {
    try {
      const answers = await api("POST", "/me/push-subscriptions/test");
      await refresh();
      showOutcome(
        devices,
        answers.length
          ? answers
              .map((a) =>
                t(`push.result.${a.result}`, { device: a.device_name, status: a.status ?? "—" }),
              )
              .join(" ")
          : t("push.none"),
      );
    } catch (error) {
      showOutcome(devices, errorText(error), "alert");
    }
  });
  renderDevices(list, subscriptions);
  return [
    h("p", { class: "muted", text: t("push.intro") }),
    choice,
    devices,
    checkField(t("alert.in_this_tab"), inTab, t("alert.in_this_tab_hint")),
  ];
}

function renderDevices(list, subscriptions) {
  if (!subscriptions.length) {
    list.replaceChildren(h("li", { class: "muted", text: t("push.none") }));
    return;
  }
  list.replaceChildren(
    ...subscriptions.map((s) => {
      const remove = h("button", { type: "button", class: "danger", text: t("action.remove") });
      remove.addEventListener(
        "click",
        guarded(async () => {
          await api("DELETE", `/me/push-subscriptions?endpoint=${encodeURIComponent(s.endpoint)}`);
          list.replaceChildren(
            ...Array.from(list.children).filter((item) => item !== remove.closest("li")),
          );
          if (!list.children.length) renderDevices(list, []);
        }),
      );
      const last =
        s.last_pushed_at === null
          ? h("span", { class: "muted", text: t("push.never_pushed") })
          : h(
              "span",
              { class: "muted" },
              t("push.last_answer", { status: s.last_status ?? "—" }),
              " ",
              timeElement(s.last_pushed_at),
            );
      return h(
        "li",
        { class: "push-device" },
        h("strong", { text: s.device_name }),
        s.device_id === state.deviceId
          ? h("span", { class: "tag", text: t("push.this_browser") })
          : null,
        last,
        remove,
      );
    }),
  );
}
