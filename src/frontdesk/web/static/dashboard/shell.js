/*
 * The page around the screens: the header with this browser's online switch and the
 * agent's other devices, the sidebar with the folders and pages, and the main area.
 */

import { CONFIG, FOLDERS } from "./config.js";
import { state, ui } from "./state.js";
import { t } from "./strings.js";
import { guarded, h } from "./dom.js";
import { api, isManager } from "./api.js";
import { logOut } from "./session.js";
import { setDesiredStatus } from "./socket.js";
import { chooseFolder, onFolderKey, renderFolderTabs } from "./inbox.js";
import { refreshAlerts } from "./banner.js";

export function renderShell() {
  ui.root.className = "app";
  ui.root.removeAttribute("aria-busy");
  ui.onlineSwitch = h("input", {
    type: "checkbox",
    role: "switch",
    id: "online-switch",
    class: "switch",
    onchange: () => setDesiredStatus(ui.onlineSwitch.checked ? "online" : "offline"),
  });
  ui.presenceNote = h("span", { class: "presence-note" });
  ui.connection = h("span", { class: "connection", role: "status" });
  ui.devices = h("p", { class: "devices", "aria-live": "polite" });
  ui.problem = h("div", { class: "problem", role: "alert", hidden: true });
  ui.alerts = h("div", {
    class: "alerts",
    role: "alert",
    "aria-label": t("alerts.label"),
    hidden: true,
  });
  ui.tabs = new Map();
  ui.tablist = h("div", {
    role: "tablist",
    "aria-orientation": "vertical",
    "aria-label": t("nav.folders"),
    class: "folders",
    onkeydown: onFolderKey,
  });
  const tablist = ui.tablist;
  for (const folder of FOLDERS) {
    const count = h("span", { class: "count" });
    const tab = h(
      "button",
      {
        type: "button",
        role: "tab",
        id: `tab-${folder}`,
        class: "folder-tab",
        dataset: { folder },
        onclick: () => chooseFolder(folder),
      },
      h("span", { class: "folder-name", text: t(`folder.${folder}`) }),
      count,
    );
    ui.tabs.set(folder, { tab, count });
    tablist.append(tab);
  }
  ui.navLinks = new Map();
  const links = h("ul", { class: "nav-links" });
  const pages = [
    ["settings", t("nav.settings")],
    ["profile", t("nav.profile")],
    ["agents", t("nav.agents"), isManager()],
    ["groups", t("nav.groups")],
  ];
  for (const [page, label, shown = true] of pages) {
    if (!shown) continue;
    const link = h("a", { href: `#/${page}`, text: label });
    ui.navLinks.set(page, link);
    links.append(h("li", {}, link));
  }
  if (CONFIG.mailbox) {
    links.append(
      h(
        "li",
        {},
        h(
          "a",
          { href: "/dev/mail", target: "_blank", rel: "noopener", class: "external" },
          t("nav.caught_mail"),
          h("span", { class: "visually-hidden", text: ` (${t("nav.new_tab")})` }),
        ),
      ),
    );
  }
  ui.main = h("main", { id: "main", tabindex: "-1" });
  ui.root.replaceChildren(
    h("a", { class: "skip-link", href: "#main", text: t("nav.skip"), onclick: skipToMain }),
    h(
      "header",
      { class: "topbar" },
      h(
        "div",
        { class: "brand" },
        h("span", { class: "logo", "aria-hidden": "true" }),
        h("span", { text: "Frontdesk" }),
        h("span", { class: "account-name", text: state.account.name }),
      ),
      h(
        "div",
        { class: "presence" },
        h(
          "label",
          { class: "switch-label", for: "online-switch" },
          ui.onlineSwitch,
          h("span", { text: t("presence.online") }),
        ),
        ui.presenceNote,
        ui.connection,
        ui.devices,
      ),
      h(
        "div",
        { class: "whoami" },
        h("a", { href: "#/profile", class: "whoami-name", text: state.me.name }),
        h("button", {
          type: "button",
          class: "ghost",
          text: t("action.log_out"),
          onclick: guarded(logOut),
        }),
      ),
    ),
    h(
      "nav",
      { class: "sidebar", "aria-label": t("nav.label") },
      h("h2", { class: "nav-heading", text: t("nav.conversations") }),
      tablist,
      h("h2", { class: "nav-heading", text: t("nav.account") }),
      links,
      h("p", {
        class: "plan-note",
        text: t("nav.plan", { plan: t(`plan.${state.account.plan}`) }),
      }),
    ),
    h("div", { class: "content" }, ui.alerts, ui.problem, ui.main),
  );
  renderPresence();
  renderDevices();
  renderFolderTabs();
  refreshAlerts();
  state.screen = null;
}

function skipToMain(event) {
  event.preventDefault();
  ui.main.focus();
}

export function renderPresence() {
  if (!ui.onlineSwitch) return;
  ui.onlineSwitch.checked = state.desiredStatus === "online";
  ui.presenceNote.textContent =
    state.desiredStatus === "online" ? t("presence.you_online") : t("presence.you_offline");
  ui.presenceNote.className = `presence-note ${state.desiredStatus}`;
  if (state.connection === "connected") {
    ui.connection.textContent = "";
    ui.connection.hidden = true;
  } else {
    ui.connection.hidden = false;
    ui.connection.textContent =
      state.connection === "reconnecting"
        ? t("presence.reconnecting", { seconds: Math.round(state.reconnectInSeconds) })
        : t("presence.connecting");
  }
}

function deviceNames(devices) {
  return devices.map((d) => `${t(`device.${d.kind}`)} (${d.device_id})`).join(", ");
}

export function renderDevices() {
  if (!ui.devices) return;
  const others = state.devices.filter((d) => d.online && d.device_id !== state.deviceId);
  const away = state.presenceState === "away";
  ui.devices.replaceChildren();
  ui.devices.classList.toggle(
    "warn",
    away || (others.length > 0 && state.desiredStatus === "offline"),
  );
  if (away) {
    // Which devices would make the agent online, and why they do not (docs/reachability.md).
    const idle = state.devices.filter((d) => d.idle);
    ui.devices.append(
      t("presence.away", {
        devices: deviceNames(idle),
        minutes: Math.max(1, Math.round((state.idleAfter || 0) / 60)),
      }),
    );
    return;
  }
  if (!others.length) return;
  ui.devices.append(t("presence.also_online", { devices: deviceNames(others) }));
  if (state.desiredStatus === "offline") ui.devices.append(` — ${t("presence.still_online")}`);
}

let devicesLoading = false;
let devicesAgain = false;
export async function refreshDevices() {
  if (!state.token) return;
  // A change announced while a request is under way may not be in its answer: ask again
  // once it is back, rather than showing a stale list until the next tick.
  if (devicesLoading) {
    devicesAgain = true;
    return;
  }
  devicesLoading = true;
  try {
    const presence = await api("GET", "/me/status");
    state.devices = presence.devices;
    state.presenceState = presence.state;
    state.idleAfter = presence.idle_after;
    renderDevices();
  } catch {
    // The next frame or the next 30 s tick tries again.
  } finally {
    devicesLoading = false;
    if (devicesAgain) {
      devicesAgain = false;
      refreshDevices();
    }
  }
}
