/*
 * Frontdesk's agent dashboard: one page, no framework and no build step, that talks to the
 * HTTP API (/api/v1) and the agent WebSocket like any other client. The part of the URL after
 * "#" picks the screen (#/conversations[/id], #/settings, #/profile, #/agents, #/groups); every
 * string comes from /static/locales/<locale>.json; the socket keeps this browser's device
 * online or offline and tells the page when to fetch again. Visitor and agent text only ever
 * reaches the page through textContent, never as HTML, so hostile text stays text.
 */
"use strict";

(() => {
  const API = "/api/v1";
  const FOLDERS = ["unserved", "mine", "served", "closed"];
  // Fetch one more than is shown, so a full folder says "100+" instead of a wrong count.
  const FOLDER_PAGE = 100;
  // Frames come in bursts (a reply announces a system message, the reply and an update):
  // one fetch after the burst instead of one per frame.
  const REFRESH_DEBOUNCE_MS = 150;
  // Below uvicorn's 20 s ping timeout, so idle proxies never see a silent socket.
  const PING_EVERY_MS = 25_000;
  // Another device's lease can lapse without any frame (the agent stays online), so the
  // list of this agent's devices is read again this often.
  const DEVICES_EVERY_MS = 30_000;
  const RECONNECT_DELAYS_S = [1, 2, 4, 8, 15, 30];
  const DEVICE_ID = /^[A-Za-z0-9._:-]{1,100}$/;
  const SESSION_ENDED = new Set(["not_authenticated", "invalid_token", "token_expired"]);
  const MANAGER_ROLES = new Set(["owner", "admin"]);
  const ROLES = ["agent", "admin", "owner"];
  const PLANS = ["free", "standard", "pro"];
  const LANGUAGE_NAMES = { en: "English", de: "Deutsch", cs: "Čeština" };
  const KEYS = {
    token: "frontdesk.token",
    device: "frontdesk.device_id",
    locale: "frontdesk.locale",
    folder: "frontdesk.folder",
    status: (agentId) => `frontdesk.status.${agentId}`,
  };
  const CONFIG = readConfig();

  const state = {
    token: null,
    me: null,
    notice: null, // what to tell once, on the next profile screen
    earlier: [], // older messages of the open conversation, fetched on asking
    earlierMore: false, // and whether there are older ones still
    account: null,
    agents: [],
    deviceId: "",
    desiredStatus: "offline",
    confirmedStatus: null,
    connection: "connecting",
    reconnectInSeconds: 0,
    devices: [],
    folder: "unserved",
    lists: { unserved: null, mine: null, served: null, closed: null },
    conversationId: null,
    conversation: null,
    notifications: null,
    conversationError: null,
    screen: null,
  };
  const ui = {};
  const timers = { refresh: 0, devices: 0, notifications: 0 };
  const live = { socket: null, attempt: 0, reconnectTimer: 0, pingTimer: 0, stopped: true };
  let screenSeq = 0;
  let idSeq = 0;

  // --- configuration, storage --------------------------------------------------------------

  function readConfig() {
    const fallback = { version: "", locales: ["en", "de", "cs"], mailbox: false };
    try {
      return { ...fallback, ...JSON.parse(document.body.dataset.config || "{}") };
    } catch {
      return fallback;
    }
  }

  function stored(key) {
    try {
      return localStorage.getItem(key);
    } catch {
      return null;
    }
  }

  function store(key, value) {
    try {
      if (value === null) localStorage.removeItem(key);
      else localStorage.setItem(key, value);
    } catch {
      // Storage refused (private mode, quota): the session then lasts as long as the page.
    }
  }

  function browserDeviceId() {
    let id = stored(KEYS.device);
    if (!id || !DEVICE_ID.test(id)) {
      const bytes = new Uint8Array(6);
      crypto.getRandomValues(bytes);
      id = `web-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
      store(KEYS.device, id);
    }
    return id;
  }

  // --- strings -----------------------------------------------------------------------------

  const i18n = { locale: "en", strings: {}, fallback: {} };
  const localeFiles = new Map();

  function fetchLocale(locale) {
    if (!localeFiles.has(locale)) {
      const url = `/static/locales/${locale}.json?v=${encodeURIComponent(CONFIG.version)}`;
      const loading = fetch(url).then((response) => {
        if (!response.ok) throw new Error(`${url}: ${response.status}`);
        return response.json();
      });
      loading.catch(() => localeFiles.delete(locale));
      localeFiles.set(locale, loading);
    }
    return localeFiles.get(locale);
  }

  async function useLocale(wanted) {
    const locale = CONFIG.locales.includes(wanted) ? wanted : "en";
    const [strings, fallback] = await Promise.all([
      fetchLocale(locale),
      locale === "en" ? null : fetchLocale("en").catch(() => ({})),
    ]);
    i18n.locale = locale;
    i18n.strings = strings;
    i18n.fallback = fallback || strings;
    document.documentElement.lang = locale;
  }

  function browserLocale() {
    const chosen = stored(KEYS.locale);
    if (chosen && CONFIG.locales.includes(chosen)) return chosen;
    for (const tag of navigator.languages || [navigator.language || "en"]) {
      const language = String(tag).slice(0, 2).toLowerCase();
      if (CONFIG.locales.includes(language)) return language;
    }
    return "en";
  }

  function t(key, params) {
    let text = i18n.strings[key] ?? i18n.fallback[key] ?? key;
    if (params) {
      text = text.replace(/\{(\w+)\}/g, (whole, name) =>
        name in params ? String(params[name]) : whole,
      );
    }
    return text;
  }

  // A sentence with values that are elements (a <code>, a <time>): the translation decides
  // where they go, and each part still enters the page as a node, never as markup.
  function tNodes(key, params) {
    const parts = t(key).split(/(\{\w+\})/);
    return parts.map((part) => {
      const name = /^\{(\w+)\}$/.exec(part);
      if (!name || !(name[1] in params)) return part;
      const value = params[name[1]];
      return value instanceof Node ? value : String(value);
    });
  }

  // --- time --------------------------------------------------------------------------------

  const formatters = new Map();

  function timeZone() {
    const zone = state.me?.time_zone;
    if (!zone) return undefined;
    try {
      new Intl.DateTimeFormat("en", { timeZone: zone });
      return zone;
    } catch {
      return undefined;
    }
  }

  function formatter(options) {
    const zone = timeZone();
    const key = `${i18n.locale}|${zone}|${JSON.stringify(options)}`;
    if (!formatters.has(key)) {
      formatters.set(key, new Intl.DateTimeFormat(i18n.locale, { ...options, timeZone: zone }));
    }
    return formatters.get(key);
  }

  function dayOf(date) {
    return formatter({ year: "numeric", month: "2-digit", day: "2-digit" }).format(date);
  }

  // Today's times without a date, older ones with: the list shows at a glance what is new.
  function shortTime(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return "";
    if (dayOf(date) === dayOf(new Date())) {
      return formatter({ hour: "2-digit", minute: "2-digit" }).format(date);
    }
    return formatter({ day: "numeric", month: "short" }).format(date);
  }

  function fullTime(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return "";
    return formatter({ dateStyle: "medium", timeStyle: "medium" }).format(date);
  }

  function timeElement(iso, text) {
    return h("time", { datetime: iso, title: fullTime(iso), text: text ?? fullTime(iso) });
  }

  function formatDuration(seconds) {
    const minutes = seconds >= 60 && seconds % 60 === 0;
    return new Intl.NumberFormat(i18n.locale, {
      style: "unit",
      unit: minutes ? "minute" : "second",
      unitDisplay: "long",
      maximumFractionDigits: 3,
    }).format(minutes ? seconds / 60 : seconds);
  }

  // --- DOM ---------------------------------------------------------------------------------

  const PROPERTIES = new Set(["value", "checked", "disabled", "hidden", "required", "selected"]);

  function h(tag, props = {}, ...children) {
    const element = document.createElement(tag);
    append(element, children);
    for (const [name, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "class") element.className = value;
      else if (name === "text") element.textContent = value;
      else if (name === "dataset") Object.assign(element.dataset, value);
      else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
      else if (PROPERTIES.has(name)) element[name] = value;
      else element.setAttribute(name, value === true ? "" : String(value));
    }
    return element;
  }

  function append(element, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      element.append(child instanceof Node ? child : String(child));
    }
  }

  function uid(prefix) {
    idSeq += 1;
    return `${prefix}-${idSeq}`;
  }

  function field(label, input, hint) {
    input.id = input.id || uid("field");
    let hintElement = null;
    if (hint) {
      hintElement = h("p", { class: "hint", id: `${input.id}-hint` }, hint);
      input.setAttribute("aria-describedby", hintElement.id);
    }
    return h("div", { class: "field" }, h("label", { for: input.id, text: label }), input, hintElement);
  }

  function checkField(label, input, hint) {
    input.id = input.id || uid("check");
    let hintElement = null;
    if (hint) {
      hintElement = h("p", { class: "hint", id: `${input.id}-hint` }, hint);
      input.setAttribute("aria-describedby", hintElement.id);
    }
    return h(
      "div",
      { class: "field field-check" },
      input,
      h("div", {}, h("label", { for: input.id, text: label }), hintElement),
    );
  }

  function select(options, value) {
    return h(
      "select",
      { value },
      options.map(([optionValue, label]) => h("option", { value: optionValue, text: label })),
    );
  }

  function section(title, ...children) {
    const heading = h("h2", { id: uid("section"), text: title });
    return h("section", { class: "card", "aria-labelledby": heading.id }, heading, ...children);
  }

  // A form's outcome: "Saved" as a status, a refusal as an alert, replacing the previous one.
  function showOutcome(form, message, kind = "status") {
    for (const old of form.querySelectorAll(":scope > .outcome")) old.remove();
    if (!message) return;
    const outcome = h("p", {
      class: `outcome outcome-${kind === "alert" ? "error" : "ok"}`,
      role: kind,
    });
    append(outcome, [message]);
    form.append(outcome);
  }

  function errorText(error) {
    if (!(error instanceof ApiError)) return t("error.unexpected");
    if (error.code === "invalid_input" && Array.isArray(error.details) && error.details.length) {
      return error.details.map(problemText).join(" ");
    }
    const known = `error.${error.code}`;
    if (t(known) !== known) return t(known);
    return t("error.server_said", { message: error.message || error.code });
  }

  function problemText(detail) {
    const name = String(detail.field || "").split(".").pop();
    const problem = `problem.${name}`;
    if (t(problem) !== problem) return t(problem);
    const label = t(`field.${name}`) !== `field.${name}` ? t(`field.${name}`) : name;
    return `${label}: ${detail.problem}`;
  }

  // Every handler runs through here: an error becomes text on the page, never an unhandled
  // rejection, and nothing is reported once the session has ended.
  function guarded(action, onError) {
    return async (event) => {
      try {
        await action(event);
      } catch (error) {
        // The session ended under this action (endSession has shown the login): nothing to add.
        if (!state.token && error instanceof ApiError && SESSION_ENDED.has(error.code)) return;
        if (onError) onError(error);
        else reportProblem(error);
      }
    };
  }

  // A form's submit: nothing leaves the page, the last outcome goes, and a refusal is shown
  // in the form (api() errors carry the server's words).
  function onSubmit(form, action) {
    form.addEventListener(
      "submit",
      guarded(
        async (event) => {
          event.preventDefault();
          showOutcome(form, null);
          await action();
        },
        (error) => showOutcome(form, errorText(error), "alert"),
      ),
    );
  }

  function reportProblem(error) {
    if (!ui.problem) return;
    ui.problem.replaceChildren();
    if (!error) {
      ui.problem.hidden = true;
      return;
    }
    ui.problem.hidden = false;
    ui.problem.append(
      h("span", { text: errorText(error) }),
      h("button", {
        type: "button",
        class: "link-button",
        text: t("action.dismiss"),
        onclick: () => reportProblem(null),
      }),
    );
  }

  async function submitting(form, work) {
    const buttons = form.querySelectorAll("button");
    for (const button of buttons) button.disabled = true;
    try {
      return await work();
    } finally {
      for (const button of buttons) button.disabled = false;
    }
  }

  // --- the API -----------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message, details) {
      super(message);
      this.status = status;
      this.code = code;
      this.details = details;
    }
  }

  async function api(method, path, body) {
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
        endSession("expired");
      }
      throw failure;
    }
    return data;
  }

  function isManager() {
    return Boolean(state.me && MANAGER_ROLES.has(state.me.role));
  }

  function agentName(agentId) {
    if (state.me && agentId === state.me.id) return t("agent.you");
    const agent = state.agents.find((a) => a.id === agentId);
    return agent ? agent.name : t("agent.unknown", { id: agentId });
  }

  function visitorName(visitor) {
    return visitor.name || visitor.email || t("visitor.number", { id: visitor.id });
  }

  async function loadAgents() {
    state.agents = await api("GET", "/agents");
  }

  // --- session -----------------------------------------------------------------------------

  async function boot() {
    state.deviceId = browserDeviceId();
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
      const answer = await api("POST", "/auth/confirm-address", { token: decodeURIComponent(match[1]) });
      if (state.me && state.me.email === answer.email) state.me.email_confirmed = true;
      return t("confirm.done", { email: answer.email });
    } catch (error) {
      return errorText(error);
    }
  }

  async function startSession(token) {
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

  function endSession(reason) {
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

  async function logOut() {
    try {
      await api("POST", "/auth/logout");
    } catch {
      // Logging out locally is what matters; a token the server lost is gone anyway.
    }
    endSession(null);
  }

  // --- signed out: log in, create an account ------------------------------------------------

  function showSignedOut(notice) {
    ui.root.className = "signed-out";
    ui.root.removeAttribute("aria-busy");
    const wantsSignUp = location.hash.startsWith("#/signup");
    const content = wantsSignUp ? signUpCard() : logInCard(notice);
    const languagePicker = select(
      CONFIG.locales.map((code) => [code, LANGUAGE_NAMES[code] || code]),
      i18n.locale,
    );
    languagePicker.addEventListener(
      "change",
      guarded(async () => {
        store(KEYS.locale, languagePicker.value);
        await useLocale(languagePicker.value);
        showSignedOut(notice);
      }),
    );
    ui.root.replaceChildren(
      h(
        "main",
        { id: "main", class: "auth" },
        h(
          "div",
          { class: "auth-card" },
          h("p", { class: "brand brand-large" }, h("span", { class: "logo", "aria-hidden": "true" }), "Frontdesk"),
          content,
        ),
        h("div", { class: "auth-language" }, field(t("field.language"), languagePicker)),
      ),
    );
    document.title = `${wantsSignUp ? t("signup.title") : t("login.title")} · Frontdesk`;
    const first = ui.root.querySelector("input");
    if (first) first.focus();
  }

  function logInCard(notice) {
    const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true });
    const password = h("input", {
      type: "password",
      name: "password",
      autocomplete: "current-password",
      required: true,
    });
    const form = h(
      "form",
      { class: "stack", novalidate: true },
      field(t("field.email"), email),
      field(t("field.password"), password),
      h("button", { type: "submit", class: "primary wide", text: t("login.submit") }),
    );
    onSubmit(form, async () => {
      if (!email.value.trim() || !password.value) {
        showOutcome(form, t("login.missing"), "alert");
        return;
      }
      await submitting(form, async () => {
        const answer = await api("POST", "/auth/login", {
          email: email.value.trim(),
          password: password.value,
        });
        if (location.hash.startsWith("#/login") || location.hash.startsWith("#/signup")) {
          history.replaceState(null, "", "#/conversations");
        }
        await startSession(answer.token);
      });
    });
    return h(
      "div",
      {},
      h("h1", { text: t("login.title") }),
      notice ? h("p", { class: "notice", role: "status", text: notice }) : null,
      form,
      CONFIG.signup === "closed"
        ? null
        : h(
            "p",
            { class: "auth-switch" },
            t("login.no_account"),
            " ",
            h("a", { href: "#/signup", text: t("login.create_account"), onclick: switchAuth("#/signup") }),
          ),
    );
  }

  function switchAuth(hash) {
    return (event) => {
      event.preventDefault();
      history.pushState(null, "", hash);
      showSignedOut();
    };
  }

  function signUpCard() {
    const company = h("input", { type: "text", autocomplete: "organization", required: true });
    const plan = select(
      PLANS.map((p) => [p, `${t(`plan.${p}`)} — ${t(`plan.${p}.summary`)}`]),
      "standard",
    );
    const name = h("input", { type: "text", autocomplete: "name", required: true });
    const email = h("input", { type: "email", autocomplete: "username", required: true });
    const password = h("input", {
      type: "password",
      autocomplete: "new-password",
      required: true,
      minlength: 8,
    });
    const form = h(
      "form",
      { class: "stack", novalidate: true },
      field(t("field.company"), company),
      field(t("field.plan"), plan),
      field(t("field.your_name"), name),
      field(t("field.email"), email, t("signup.email_hint")),
      field(t("field.password"), password, t("signup.password_hint")),
      h("button", { type: "submit", class: "primary wide", text: t("signup.submit") }),
    );
    onSubmit(form, async () => {
      await submitting(form, async () => {
        // An invitation from the installation's operator rides in the link: #/signup?invitation=…
        const invitation = new URLSearchParams(location.hash.split("?")[1] || "").get("invitation");
        const answer = await api("POST", "/accounts", {
          name: company.value.trim(),
          plan: plan.value,
          owner: {
            name: name.value.trim(),
            email: email.value.trim(),
            password: password.value,
            locale: i18n.locale,
          },
          ...(invitation ? { invitation } : {}),
        });
        history.replaceState(null, "", "#/settings");
        await startSession(answer.token);
      });
    });
    return h(
      "div",
      {},
      h("h1", { text: t("signup.title") }),
      h("p", { class: "muted", text: t("signup.intro") }),
      form,
      h(
        "p",
        { class: "auth-switch" },
        t("signup.have_account"),
        " ",
        h("a", { href: "#/login", text: t("signup.log_in"), onclick: switchAuth("#/login") }),
      ),
    );
  }

  // --- the shell: header, sidebar, main ----------------------------------------------------

  function renderShell() {
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
          h("label", { class: "switch-label", for: "online-switch" }, ui.onlineSwitch, h("span", { text: t("presence.online") })),
          ui.presenceNote,
          ui.connection,
          ui.devices,
        ),
        h(
          "div",
          { class: "whoami" },
          h("a", { href: "#/profile", class: "whoami-name", text: state.me.name }),
          h("button", { type: "button", class: "ghost", text: t("action.log_out"), onclick: guarded(logOut) }),
        ),
      ),
      h(
        "nav",
        { class: "sidebar", "aria-label": t("nav.label") },
        h("h2", { class: "nav-heading", text: t("nav.conversations") }),
        tablist,
        h("h2", { class: "nav-heading", text: t("nav.account") }),
        links,
        h("p", { class: "plan-note", text: t("nav.plan", { plan: t(`plan.${state.account.plan}`) }) }),
      ),
      h("div", { class: "content" }, ui.problem, ui.main),
    );
    renderPresence();
    renderDevices();
    renderFolderTabs();
    state.screen = null;
  }

  function skipToMain(event) {
    event.preventDefault();
    ui.main.focus();
  }

  function renderPresence() {
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

  function renderDevices() {
    if (!ui.devices) return;
    const others = state.devices.filter((d) => d.online && d.device_id !== state.deviceId);
    ui.devices.replaceChildren();
    ui.devices.classList.toggle("warn", others.length > 0 && state.desiredStatus === "offline");
    if (!others.length) return;
    const names = others
      .map((d) => `${t(`device.${d.kind}`)} (${d.device_id})`)
      .join(", ");
    ui.devices.append(t("presence.also_online", { devices: names }));
    if (state.desiredStatus === "offline") ui.devices.append(` — ${t("presence.still_online")}`);
  }

  let devicesLoading = false;
  let devicesAgain = false;
  async function refreshDevices() {
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

  // --- the agent socket --------------------------------------------------------------------

  function connectSocket() {
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

  function stopSocket() {
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

  function setDesiredStatus(status) {
    state.desiredStatus = status;
    if (state.me) store(KEYS.status(state.me.id), status);
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
        if (frame.status !== state.desiredStatus) send({ type: "status", status: state.desiredStatus });
        refreshDevices();
        // Whatever happened while the socket was away was not announced to this page.
        scheduleRefresh();
        break;
      case "status":
        state.confirmedStatus = frame.status;
        refreshDevices();
        break;
      case "presence.changed":
        if (frame.agent_id !== undefined) {
          if (state.me && frame.agent_id === state.me.id) refreshDevices();
          const agent = state.agents.find((a) => a.id === frame.agent_id);
          if (agent) agent.online = frame.online;
          if (state.screen === "agents") renderAgentRows();
        }
        // Visitors arriving or leaving change the lists; an agent coming online can call off
        // an offline e-mail, which the open conversation's "Why no e-mail?" shows.
        scheduleRefresh();
        break;
      case "conversation.created":
      case "conversation.updated":
      case "message.created":
      case "conversation.read":
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

  // --- refreshing what the frames announce -------------------------------------------------

  let refreshRunning = false;
  let refreshAgain = false;

  function scheduleRefresh() {
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

  function refreshNow() {
    return Promise.all([loadFolders(), state.conversationId ? loadConversation(false) : null]);
  }

  async function loadFolders() {
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

  function renderFolderTabs() {
    if (!ui.tabs) return;
    ui.tablist.classList.toggle("elsewhere", state.screen !== "conversations");
    for (const [folder, { tab, count }] of ui.tabs) {
      const list = state.lists[folder];
      const selected = folder === state.folder;
      tab.setAttribute("aria-selected", String(selected));
      tab.tabIndex = selected ? 0 : -1;
      if (state.screen === "conversations") tab.setAttribute("aria-controls", "folder-panel");
      else tab.removeAttribute("aria-controls");
      count.textContent = list ? (list.length > FOLDER_PAGE ? `${FOLDER_PAGE}+` : String(list.length)) : "";
      const unread = list ? list.some((c) => c.unread) : false;
      count.classList.toggle("has-unread", unread && folder !== "closed");
    }
    const waiting = state.lists.unserved ? state.lists.unserved.length : 0;
    document.title = waiting ? `(${waiting}) Frontdesk` : "Frontdesk";
  }

  function chooseFolder(folder) {
    state.folder = folder;
    store(KEYS.folder, folder);
    renderFolderTabs();
    if (state.screen !== "conversations") {
      location.hash = state.conversationId ? `#/conversations/${state.conversationId}` : "#/conversations";
    } else {
      renderList();
    }
  }

  function onFolderKey(event) {
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

  // --- routing -----------------------------------------------------------------------------

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

  function route() {
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
    const screens = { settings: showSettings, profile: showProfile, agents: showAgents, groups: showGroups };
    screenSeq += 1;
    state.screen = page;
    renderFolderTabs();
    reportProblem(null);
    const seq = screenSeq;
    screens[page](seq).catch((error) => {
      if (seq === screenSeq && state.token) {
        ui.main.replaceChildren(h("div", { class: "page" }, h("p", { class: "outcome outcome-error", role: "alert", text: errorText(error) })));
      }
    });
  }

  function current(seq) {
    return seq === screenSeq && Boolean(state.token);
  }

  // --- conversations -----------------------------------------------------------------------

  function showInbox() {
    screenSeq += 1;
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
          { class: "list-pane", id: "folder-panel", role: "tabpanel", "aria-labelledby": "folder-title" },
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

  function renderList() {
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
      h("span", { class: `item-preview${last && last.author === "system" ? " system" : ""}`, text: preview }),
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

  function openConversation(id) {
    if (id === null) {
      state.conversationId = null;
      state.conversation = null;
      state.notifications = null;
      ui.builtFor = null;
      ui.conversationPane.replaceChildren(
        h(
          "div",
          { class: "placeholder" },
          h("h2", { text: t("conversation.none_title") }),
          h("p", { text: t("conversation.none_text") }),
        ),
      );
      renderList();
      return;
    }
    if (id === state.conversationId && ui.builtFor === id) return;
    state.conversationId = id;
    state.conversation = null;
    state.earlier = [];
    state.earlierMore = false;
    state.notifications = null;
    state.conversationError = null;
    buildConversationPane(id);
    renderList();
    loadConversation(true).catch(() => {});
  }

  async function loadConversation(opening) {
    const id = state.conversationId;
    if (id === null) return;
    let conversation;
    let log;
    try {
      [conversation, log] = await Promise.all([
        api("GET", `/conversations/${id}`),
        api("GET", `/notifications?conversation_id=${id}`),
      ]);
    } catch (error) {
      if (state.conversationId !== id) return;
      if (error instanceof ApiError && error.status === 404) {
        ui.conversationPane.replaceChildren(
          h("div", { class: "placeholder" }, h("h2", { text: t("conversation.not_found") })),
        );
        ui.builtFor = null;
      } else {
        showConversationError(error);
      }
      return;
    }
    if (state.conversationId !== id || state.screen !== "conversations") return;
    keepEarlier(state.conversation, conversation);
    state.conversation = conversation;
    state.notifications = log.notifications;
    // Opened from a link (an e-mail, a bookmark): show the folder it is in, so the list
    // and the conversation agree.
    if (opening && conversation.folder !== state.folder) chooseFolder(conversation.folder);
    renderConversation();
    renderWhy();
    markReadIfNew(opening);
  }

  async function loadNotifications() {
    const id = state.conversationId;
    if (id === null || state.screen !== "conversations") return;
    const log = await api("GET", `/notifications?conversation_id=${id}`);
    if (state.conversationId !== id) return;
    state.notifications = log.notifications;
    renderWhy();
  }

  // "Opened in the dashboard" (docs/spec.md section 3): on opening, and again for messages that
  // arrive while the conversation is open in a tab someone is looking at.
  function markReadIfNew(opening) {
    const conversation = state.conversation;
    if (!conversation || document.visibilityState !== "visible") return;
    const newest = conversation.messages.length
      ? conversation.messages[conversation.messages.length - 1].id
      : null;
    if (newest === null) return;
    if (!opening && (conversation.last_read_message_id ?? 0) >= newest) return;
    conversation.last_read_message_id = newest;
    api("POST", `/conversations/${conversation.id}/read`).catch(() => {
      conversation.last_read_message_id = null;
    });
  }

  function buildConversationPane(id) {
    ui.builtFor = id;
    ui.convHeading = h("h2", { tabindex: "-1", class: "conversation-title", text: t("list.loading") });
    ui.convSub = h("p", { class: "conversation-sub" });
    ui.convActions = h("div", { class: "conversation-actions" });
    ui.convError = h("div", { class: "conversation-error" });
    ui.messages = h("ol", { class: "messages", "aria-label": t("conversation.messages") });
    ui.visitorDetails = h("dl", { class: "details" });
    ui.why = h("div", { class: "why-body" });
    const whyHeading = h("h3", { id: uid("why"), text: t("why.title") });
    const replyBox = h("textarea", { rows: 3, name: "reply", id: uid("reply") });
    const sendButton = h("button", { type: "submit", class: "primary", text: t("action.send") });
    ui.reply = replyBox;
    ui.replyForm = h(
      "form",
      { class: "reply" },
      h("label", { for: replyBox.id, text: t("conversation.reply") }),
      replyBox,
      h(
        "div",
        { class: "reply-actions" },
        h("span", { class: "hint", text: t("conversation.reply_hint") }),
        sendButton,
      ),
    );
    replyBox.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        ui.replyForm.requestSubmit();
      }
    });
    ui.replyForm.addEventListener("submit", guarded(sendReply, showConversationError));
    ui.closedNote = h("p", { class: "closed-note", hidden: true, text: t("conversation.closed_note") });
    ui.conversationPane.replaceChildren(
      h(
        "header",
        { class: "conversation-header" },
        h("div", { class: "conversation-heading" }, ui.convHeading, ui.convSub),
        ui.convActions,
      ),
      ui.convError,
      h(
        "div",
        { class: "conversation-body" },
        h("div", { class: "thread" }, ui.messages, ui.closedNote, ui.replyForm),
        h(
          "aside",
          { class: "conversation-aside", "aria-label": t("conversation.about") },
          h(
            "section",
            { class: "aside-section", "aria-labelledby": "visitor-heading" },
            h("h3", { id: "visitor-heading", text: t("visitor.title") }),
            ui.visitorDetails,
          ),
          h("section", { class: "aside-section why", "aria-labelledby": whyHeading.id }, whyHeading, ui.why),
        ),
      ),
    );
  }

  function renderConversation() {
    const conversation = state.conversation;
    if (!conversation || ui.builtFor !== conversation.id) return;
    const visitor = conversation.visitor;
    ui.convHeading.textContent = visitorName(visitor);
    const status = h("span", { class: `badge status-${conversation.status}`, text: t(`status.${conversation.status}`) });
    const sub = [status];
    if (conversation.assignee_id !== null) {
      sub.push(" ", t("conversation.assignee", { name: agentName(conversation.assignee_id) }));
    }
    ui.convSub.replaceChildren(...sub);

    ui.convActions.replaceChildren();
    if (conversation.status === "unserved") {
      ui.convActions.append(
        h("button", { type: "button", class: "primary", text: t("action.join"), onclick: guarded(join, showConversationError) }),
      );
    }
    if (conversation.status !== "closed") {
      ui.convActions.append(
        h("button", { type: "button", text: t("action.close"), onclick: guarded(closeConversation, showConversationError) }),
      );
    }

    ui.visitorDetails.replaceChildren(
      detail(t("visitor.name"), visitor.name || "—"),
      detail(t("visitor.email"), visitor.email || "—"),
      detail(t("visitor.page"), visitor.page_url || "—", "url"),
      detail(
        t("visitor.presence"),
        h(
          "span",
          {},
          h("span", { class: `presence-dot ${visitor.on_website ? "on" : "off"}`, "aria-hidden": "true" }),
          visitor.on_website ? t("visitor.on_website") : t("visitor.left"),
        ),
      ),
      detail(t("conversation.started"), timeElement(conversation.created_at)),
    );

    const closed = conversation.status === "closed";
    ui.closedNote.hidden = !closed;
    ui.replyForm.hidden = closed;

    renderMessages();
  }

  // The conversation's newest page of messages comes with it; older pages are fetched on
  // asking ("Show earlier messages") and kept while the conversation stays open.
  function shownMessages() {
    const page = state.conversation.messages;
    const earlier = state.earlier || [];
    if (!earlier.length) return { messages: page, more: state.conversation.has_earlier };
    const last = earlier[earlier.length - 1].id;
    return { messages: [...earlier, ...page.filter((m) => m.id > last)], more: state.earlierMore };
  }

  function renderMessages(keepFromBottom) {
    const scroller = ui.messages;
    const pinned = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
    const firstFill = !scroller.childElementCount;
    const { messages, more } = shownMessages();
    const items = messages.map(messageItem);
    if (more && messages.length) {
      items.unshift(
        h(
          "li",
          { class: "earlier" },
          h("button", {
            type: "button",
            class: "link-button",
            text: t("conversation.earlier"),
            onclick: guarded(() => loadEarlier(messages[0].id), showConversationError),
          }),
        ),
      );
    }
    scroller.replaceChildren(...items);
    if (keepFromBottom !== undefined) scroller.scrollTop = scroller.scrollHeight - keepFromBottom;
    else if (pinned || firstFill) scroller.scrollTop = scroller.scrollHeight;
  }

  // Earlier messages were asked for: the messages of the page shown so far that the new
  // page no longer reaches (newer ones pushed them out) join them, so none goes missing.
  function keepEarlier(old, fresh) {
    if (!old || old.id !== fresh.id || !state.earlier.length) return;
    const first = fresh.messages.length ? fresh.messages[0].id : Infinity;
    const last = state.earlier[state.earlier.length - 1].id;
    state.earlier.push(...old.messages.filter((m) => m.id > last && m.id < first));
  }

  async function loadEarlier(beforeId) {
    const id = state.conversationId;
    const page = await api("GET", `/conversations/${id}?before=${beforeId}`);
    if (state.conversationId !== id || !state.conversation) return;
    state.earlier = [...page.messages, ...(state.earlier || [])];
    state.earlierMore = page.has_earlier;
    const scroller = ui.messages;
    renderMessages(scroller.scrollHeight - scroller.scrollTop);
  }

  function detail(term, value, kind) {
    return h(
      "div",
      { class: `detail${kind ? ` detail-${kind}` : ""}` },
      h("dt", { text: term }),
      h("dd", {}, value),
    );
  }

  function messageItem(message) {
    const author =
      message.author === "visitor"
        ? visitorName(state.conversation.visitor)
        : message.author === "agent"
          ? agentName(message.agent_id)
          : t("message.system");
    return h(
      "li",
      { class: `message message-${message.author}`, dataset: { messageId: String(message.id) } },
      h(
        "div",
        { class: "message-meta" },
        h("span", { class: "message-author", text: author }),
        timeElement(message.created_at, shortTime(message.created_at)),
      ),
      h("p", { class: "message-text", text: message.text }),
    );
  }

  function showConversationError(error) {
    if (!ui.convError) return;
    ui.convError.replaceChildren(
      h("p", { class: "outcome outcome-error", role: "alert", text: errorText(error) }),
    );
  }

  async function join() {
    const id = state.conversationId;
    ui.convError.replaceChildren();
    await api("POST", `/conversations/${id}/join`);
    // The conversation is now the caller's: follow it to Mine so it stays in the list.
    chooseFolder("mine");
    await refreshNow();
    if (ui.reply && !ui.replyForm.hidden) ui.reply.focus();
  }

  async function closeConversation() {
    const id = state.conversationId;
    ui.convError.replaceChildren();
    await api("POST", `/conversations/${id}/close`);
    await refreshNow();
    if (ui.convHeading) ui.convHeading.focus();
  }

  async function sendReply(event) {
    event.preventDefault();
    const text = ui.reply.value;
    if (!text.trim()) return;
    const id = state.conversationId;
    const wasUnserved = state.conversation && state.conversation.status === "unserved";
    ui.convError.replaceChildren();
    await submitting(ui.replyForm, async () => {
      await api("POST", `/conversations/${id}/messages`, { text });
      if (state.conversationId === id) ui.reply.value = "";
    });
    // A reply to an unserved conversation joins it first.
    if (wasUnserved) chooseFolder("mine");
    await refreshNow();
    if (ui.reply) ui.reply.focus();
  }

  // --- "Why no e-mail?" --------------------------------------------------------------------

  function renderWhy() {
    if (!ui.why || state.notifications === null) return;
    const decisions = state.notifications;
    ui.why.replaceChildren();
    if (!decisions.length) {
      ui.why.append(h("p", { class: "muted", text: t("why.none") }));
    } else {
      ui.why.append(h("ol", { class: "decisions" }, decisions.map(decisionItem)));
    }
    ui.why.append(
      h(
        "details",
        { class: "why-tips" },
        h("summary", { text: t("why.tips_title") }),
        h(
          "ul",
          {},
          h("li", { text: t("why.tip_spam") }),
          h("li", { text: t("why.tip_full") }),
          h("li", {}, tNodes("why.tip_address", { email: h("strong", { text: state.me.email }) })),
          h("li", { text: t("why.tip_blocked") }),
        ),
      ),
    );
    scheduleWhyPoll(decisions);
  }

  // Decisions and deliveries happen on the engine's clock and announce no frame: look again
  // shortly after whatever is due next.
  function scheduleWhyPoll(decisions) {
    clearTimeout(timers.notifications);
    const now = Date.now();
    let next = Infinity;
    for (const decision of decisions) {
      if (decision.state === "scheduled") next = Math.min(next, Date.parse(decision.due_at));
      for (const recipient of decision.recipients) {
        if (recipient.state === "pending") next = Math.min(next, now + 2000);
        if (recipient.state === "deferred" && recipient.next_attempt_at) {
          next = Math.min(next, Date.parse(recipient.next_attempt_at));
        }
      }
    }
    if (!Number.isFinite(next)) return;
    const wait = Math.min(Math.max(next - now + 500, 1000), DEVICES_EVERY_MS);
    timers.notifications = setTimeout(() => loadNotifications().catch(() => {}), wait);
  }

  function decisionItem(decision) {
    const heading = h(
      "h4",
      { class: "decision-title" },
      h("span", { text: t(`kind.${decision.kind}`) }),
      h("span", { class: `badge state-${decision.state}`, text: t(`state.${decision.state}`) }),
    );
    const why = h("p", { class: "decision-reason" });
    if (decision.reason) {
      why.append(h("code", { text: decision.reason }), " ", t(`reason.${decision.reason}`));
    } else {
      why.append(t(`state.${decision.state}.explained`));
    }
    const times = h(
      "dl",
      { class: "decision-times" },
      detail(t("why.opened"), timeElement(decision.opened_at)),
      detail(t("why.due"), timeElement(decision.due_at)),
      decision.decided_at ? detail(t("why.decided"), timeElement(decision.decided_at)) : null,
      decision.visitor_left_at ? detail(t("why.visitor_left"), timeElement(decision.visitor_left_at)) : null,
      detail(t("why.messages"), String(decision.message_ids.length)),
    );
    const parts = [heading, why, times];
    if (decision.recipients.length) {
      parts.push(
        h("h5", { text: t("why.recipients") }),
        h("ul", { class: "recipients" }, decision.recipients.map(recipientItem)),
      );
    }
    if (decision.not_recipients.length) {
      parts.push(
        h("h5", { text: t("why.not_recipients") }),
        h(
          "ul",
          { class: "recipients" },
          decision.not_recipients.map((left) =>
            h(
              "li",
              { class: left.agent_id === state.me.id ? "you" : null },
              h("span", { class: "recipient-name", text: agentName(left.agent_id) }),
              " — ",
              t(`not_recipient.${left.reason}`),
            ),
          ),
        ),
      );
    }
    return h("li", { class: `decision decision-${decision.state}`, dataset: { reason: decision.reason || "" } }, parts);
  }

  function recipientItem(recipient) {
    const reply = [recipient.smtp_code, recipient.smtp_text].filter((part) => part !== null && part !== "").join(" ");
    const params = {
      reply: reply || "—",
      time: recipient.next_attempt_at ? timeElement(recipient.next_attempt_at) : "—",
      bounced_at: recipient.bounced_at ? timeElement(recipient.bounced_at) : "—",
      bounce: [recipient.bounce_status, recipient.bounce_text].filter(Boolean).join(" ") || "—",
      attempts: recipient.attempts,
    };
    const key = reply || recipient.state === "deferred" || recipient.state === "bounced"
      ? `delivery.${recipient.state}.detail`
      : `delivery.${recipient.state}`;
    return h(
      "li",
      { class: recipient.agent_id === state.me.id ? "you" : null },
      h("span", { class: "recipient-name", text: recipient.agent_id ? agentName(recipient.agent_id) : recipient.email }),
      " ",
      h("span", { class: "recipient-email", text: `<${recipient.email}>` }),
      " ",
      h("span", { class: `badge delivery-${recipient.state}`, text: t(`delivery.${recipient.state}.label`) }),
      h("span", { class: "recipient-detail" }, tNodes(key, params)),
    );
  }

  // --- settings → notifications ------------------------------------------------------------

  async function showSettings(seq) {
    ui.main.replaceChildren(page(t("settings.title"), h("p", { class: "muted", text: t("list.loading") })));
    const [settings, account] = await Promise.all([api("GET", "/settings/notifications"), api("GET", "/account")]);
    if (!current(seq)) return;
    state.account = account;
    const manager = isManager();
    const offline = h("input", { type: "checkbox", role: "switch", class: "switch", checked: settings.offline_message_email, disabled: !manager });
    const missed = h("input", {
      type: "checkbox",
      role: "switch",
      class: "switch",
      checked: settings.missed_conversation_email,
      disabled: !manager || !settings.missed_conversation_email_available,
    });
    const defaultDelay = settings.default_offline_email_delay;
    const chosen = settings.offline_email_delay;
    const inMinutes = (seconds) => seconds >= 60 && seconds % 60 === 0;
    const unit = select(
      [
        ["seconds", t("unit.seconds")],
        ["minutes", t("unit.minutes")],
      ],
      inMinutes(chosen ?? defaultDelay) ? "minutes" : "seconds",
    );
    const delay = h("input", {
      type: "number",
      min: "0",
      step: "any",
      inputmode: "decimal",
      class: "short",
      placeholder: t("settings.delay_placeholder"),
      value: chosen === null ? "" : String(inMinutes(chosen) ? chosen / 60 : chosen),
      disabled: !manager,
    });
    unit.disabled = !manager;
    unit.setAttribute("aria-label", t("settings.delay_unit"));
    delay.id = uid("delay");
    const delayHint = h("p", { class: "hint", id: `${delay.id}-hint`, text: t("settings.delay_hint", { default: formatDuration(defaultDelay) }) });
    delay.setAttribute("aria-describedby", delayHint.id);

    const form = h(
      "form",
      { class: "stack", novalidate: true },
      h("p", { class: "muted", text: t("settings.intro") }),
      checkField(t("settings.offline"), offline, t("settings.offline_hint")),
      checkField(
        t("settings.missed"),
        missed,
        settings.missed_conversation_email_available
          ? t("settings.missed_hint")
          : t("settings.missed_unavailable", { plan: t(`plan.${account.plan}`) }),
      ),
      h(
        "div",
        { class: "field" },
        h("label", { for: delay.id, text: t("settings.delay") }),
        h("div", { class: "inline" }, delay, unit),
        delayHint,
      ),
      manager
        ? h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", text: t("action.save") }))
        : h("p", { class: "notice", text: t("settings.read_only") }),
    );
    if (!settings.missed_conversation_email_available) {
      missed.closest(".field").classList.add("unavailable");
    }
    onSubmit(form, async () => {
      let seconds = null;
      if (delay.value.trim() !== "") {
        const number = delay.valueAsNumber;
        if (!Number.isFinite(number) || number <= 0) {
          showOutcome(form, t("problem.offline_email_delay"), "alert");
          return;
        }
        seconds = unit.value === "minutes" ? number * 60 : number;
      }
      const body = { offline_message_email: offline.checked, offline_email_delay: seconds };
      if (settings.missed_conversation_email_available) body.missed_conversation_email = missed.checked;
      await submitting(form, () => api("PATCH", "/settings/notifications", body));
      showOutcome(form, t("outcome.saved"));
    });
    ui.main.replaceChildren(page(t("settings.title"), section(t("settings.notifications"), form)));
  }

  function page(title, ...children) {
    return h("div", { class: "page" }, h("h1", { text: title }), ...children);
  }

  // --- profile -----------------------------------------------------------------------------

  async function showProfile(seq) {
    ui.main.replaceChildren(page(t("profile.title"), h("p", { class: "muted", text: t("list.loading") })));
    const [me, mine] = await Promise.all([api("GET", "/me"), api("GET", "/me/notifications")]);
    if (!current(seq)) return;
    state.me = me;
    const notice = state.notice;
    state.notice = null;
    ui.main.replaceChildren(
      page(
        t("profile.title"),
        notice ? h("p", { class: "notice", role: "status", text: notice }) : null,
        me.email_bounced ? bounceWarning(me.email_bounced) : null,
        me.email_confirmed ? null : unconfirmedWarning(me),
        section(t("profile.details"), profileForm(me)),
        section(t("profile.my_notifications"), myNotificationsForm(mine)),
        section(t("profile.password"), passwordForm()),
        section(t("profile.sessions"), sessionsForm()),
      ),
    );
  }

  function sessionsForm() {
    const form = h(
      "form",
      { class: "stack", novalidate: true },
      h("p", { class: "muted", text: t("profile.sessions_hint") }),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "danger", text: t("action.log_out_everywhere") })),
    );
    onSubmit(form, async () => {
      await submitting(form, () => api("POST", "/auth/logout-everywhere"));
      endSession(null);
    });
    return form;
  }

  function unconfirmedWarning(me) {
    const form = h(
      "form",
      { class: "stack", novalidate: true },
      h("div", { class: "actions" }, h("button", { type: "submit", text: t("confirm.resend") })),
    );
    onSubmit(form, async () => {
      await submitting(form, async () => {
        await api("POST", "/me/confirmation");
        showOutcome(form, t("confirm.resent", { email: me.email }), "status");
      });
    });
    return h(
      "div",
      { class: "warning", role: "alert" },
      h("h2", { text: t("confirm.title") }),
      h("p", {}, tNodes("confirm.text", { email: h("strong", { text: me.email }) })),
      form,
    );
  }

  function bounceWarning(bounce) {
    const said = [bounce.status, bounce.diagnostic].filter(Boolean).join(" ") || "—";
    return h(
      "div",
      { class: "warning", role: "alert" },
      h("h2", { text: t("profile.bounced_title") }),
      h(
        "p",
        {},
        tNodes("profile.bounced_text", {
          email: h("strong", { text: bounce.email }),
          at: timeElement(bounce.at),
          said: h("code", { text: said }),
        }),
      ),
    );
  }

  function profileForm(me) {
    const name = h("input", { type: "text", autocomplete: "name", value: me.name, required: true });
    const email = h("input", { type: "email", autocomplete: "email", value: me.email, required: true });
    const language = select(
      CONFIG.locales.map((code) => [code, LANGUAGE_NAMES[code] || code]),
      me.locale,
    );
    const zones = h("datalist", { id: uid("zones") });
    const known = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
    for (const zone of ["UTC", ...known]) zones.append(h("option", { value: zone }));
    const zone = h("input", { type: "text", value: me.time_zone, list: zones.id, autocomplete: "off", spellcheck: "false" });
    const currentPassword = h("input", { type: "password", autocomplete: "current-password" });
    const currentField = field(t("field.current_password"), currentPassword, t("profile.current_password_hint"));
    currentField.hidden = true;
    email.addEventListener("input", () => {
      currentField.hidden = email.value.trim().toLowerCase() === me.email.toLowerCase();
    });
    const form = h(
      "form",
      { class: "stack", novalidate: true },
      field(t("field.name"), name),
      field(t("field.email"), email, t("profile.email_hint")),
      currentField,
      field(t("field.language"), language),
      field(t("field.time_zone"), zone, t("profile.time_zone_hint")),
      zones,
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", text: t("action.save") })),
    );
    onSubmit(form, async () => {
      const changes = {};
      if (name.value.trim() !== me.name) changes.name = name.value.trim();
      if (email.value.trim() !== me.email) {
        changes.email = email.value.trim();
      }
      // The server compares addresses without case: only a new address is a new login.
      if (email.value.trim().toLowerCase() !== me.email.toLowerCase()) {
        if (!currentPassword.value) {
          showOutcome(form, t("error.current_password_required"), "alert");
          currentPassword.focus();
          return;
        }
        changes.current_password = currentPassword.value;
      }
      if (language.value !== me.locale) changes.locale = language.value;
      if (zone.value.trim() !== me.time_zone) changes.time_zone = zone.value.trim();
      if (!Object.keys(changes).length) {
        showOutcome(form, t("outcome.saved"));
        return;
      }
      const updated = await submitting(form, () => api("PATCH", "/me", changes));
      state.me = updated;
      formatters.clear();
      if (updated.locale !== i18n.locale) {
        // The whole page speaks the new language, this screen included.
        await useLocale(updated.locale);
        renderShell();
        route();
        return;
      }
      if (ui.navLinks && ui.root.querySelector(".whoami-name")) {
        ui.root.querySelector(".whoami-name").textContent = updated.name;
      }
      const seq = screenSeq;
      await showProfile(seq);
      const again = ui.main.querySelector("form");
      if (again) showOutcome(again, t("outcome.saved"));
    });
    return form;
  }

  function myNotificationsForm(mine) {
    const offline = h("input", { type: "checkbox", checked: mine.offline_message_email });
    const missed = h("input", { type: "checkbox", checked: mine.missed_conversation_email });
    const form = h(
      "form",
      { class: "stack" },
      h("p", { class: "muted", text: t("profile.my_notifications_intro") }),
      checkField(t("profile.email_me_offline"), offline),
      checkField(t("profile.email_me_missed"), missed),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", text: t("action.save") })),
    );
    onSubmit(form, async () => {
      await submitting(form, () =>
        api("PATCH", "/me/notifications", {
          offline_message_email: offline.checked,
          missed_conversation_email: missed.checked,
        }),
      );
      showOutcome(form, t("outcome.saved"));
    });
    return form;
  }

  function passwordForm() {
    const fresh = h("input", { type: "password", autocomplete: "new-password", minlength: 8 });
    const currentPassword = h("input", { type: "password", autocomplete: "current-password" });
    const form = h(
      "form",
      { class: "stack", novalidate: true },
      field(t("field.new_password"), fresh, t("signup.password_hint")),
      field(t("field.current_password"), currentPassword),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", text: t("profile.change_password") })),
    );
    onSubmit(form, async () => {
      await submitting(form, () =>
        api("PATCH", "/me", { password: fresh.value, current_password: currentPassword.value || undefined }),
      );
      fresh.value = "";
      currentPassword.value = "";
      showOutcome(form, t("outcome.password_changed"));
    });
    return form;
  }

  // --- agents ------------------------------------------------------------------------------

  async function showAgents(seq) {
    if (!isManager()) {
      ui.main.replaceChildren(page(t("agents.title"), h("p", { class: "notice", text: t("agents.managers_only") })));
      return;
    }
    ui.main.replaceChildren(page(t("agents.title"), h("p", { class: "muted", text: t("list.loading") })));
    await loadAgents();
    if (!current(seq)) return;
    ui.agentRows = h("tbody");
    ui.agentsOutcome = h("div", { class: "agents-outcome" });
    const table = h(
      "table",
      { class: "agents" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["agents.online", "field.name", "field.email", "field.role", "agents.state", "agents.actions"].map((key) =>
            h("th", { scope: "col", text: t(key) }),
          ),
        ),
      ),
      ui.agentRows,
    );
    ui.main.replaceChildren(
      page(
        t("agents.title"),
        section(t("agents.team"), ui.agentsOutcome, h("div", { class: "table-wrap" }, table)),
        section(t("agents.invite"), inviteForm()),
      ),
    );
    renderAgentRows();
  }

  function renderAgentRows() {
    if (state.screen !== "agents" || !ui.agentRows) return;
    const focusedKey = document.activeElement?.dataset?.focusKey;
    ui.agentRows.replaceChildren(...state.agents.map(agentRow));
    if (focusedKey) {
      const again = ui.agentRows.querySelector(`[data-focus-key="${CSS.escape(focusedKey)}"]`);
      if (again) again.focus();
    }
  }

  function agentRow(agent) {
    const role = select(
      ROLES.map((r) => [r, t(`role.${r}`)]),
      agent.role,
    );
    role.dataset.focusKey = `role-${agent.id}`;
    role.setAttribute("aria-label", t("agents.role_of", { name: agent.name }));
    role.addEventListener(
      "change",
      guarded(
        async () => {
          await api("PATCH", `/agents/${agent.id}`, { role: role.value });
          await afterAgentChange(t("agents.role_changed", { name: agent.name }));
        },
        (error) => {
          role.value = agent.role;
          agentsOutcome(errorText(error), "alert");
        },
      ),
    );
    const toggle = h("button", {
      type: "button",
      class: agent.active ? "danger-outline" : "",
      dataset: { focusKey: `active-${agent.id}` },
      text: agent.active ? t("agents.deactivate") : t("agents.activate"),
      "aria-label": agent.active
        ? t("agents.deactivate_named", { name: agent.name })
        : t("agents.activate_named", { name: agent.name }),
    });
    toggle.addEventListener(
      "click",
      guarded(
        async () => {
          await api("PATCH", `/agents/${agent.id}`, { active: !agent.active });
          await afterAgentChange(
            t(agent.active ? "agents.deactivated" : "agents.activated", { name: agent.name }),
          );
        },
        (error) => agentsOutcome(errorText(error), "alert"),
      ),
    );
    const online = agent.active && agent.online;
    return h(
      "tr",
      { class: agent.active ? null : "inactive", dataset: { agentId: String(agent.id) } },
      h(
        "td",
        {},
        h("span", { class: `presence-dot ${online ? "on" : "off"}`, "aria-hidden": "true" }),
        h("span", { class: "visually-hidden", text: online ? t("agents.is_online") : t("agents.is_offline") }),
      ),
      h("td", {}, h("span", { text: agent.name }), state.me && agent.id === state.me.id ? h("span", { class: "muted", text: ` (${t("agent.you")})` }) : null),
      h(
        "td",
        {},
        h("span", { text: agent.email }),
        agent.email_confirmed ? null : h("span", { class: "muted", text: ` (${t("agents.unconfirmed")})` }),
      ),
      h("td", {}, role),
      h("td", { text: agent.active ? t("agents.active") : t("agents.inactive") }),
      h("td", {}, toggle),
    );
  }

  function agentsOutcome(message, kind = "status") {
    if (!ui.agentsOutcome) return;
    ui.agentsOutcome.replaceChildren(
      h("p", { class: `outcome outcome-${kind === "alert" ? "error" : "ok"}`, role: kind, text: message }),
    );
  }

  async function afterAgentChange(message) {
    await loadAgents();
    renderAgentRows();
    agentsOutcome(message);
  }

  function inviteForm() {
    const name = h("input", { type: "text", required: true, autocomplete: "off" });
    const email = h("input", { type: "email", required: true, autocomplete: "off" });
    const role = select(ROLES.map((r) => [r, t(`role.${r}`)]), "agent");
    const password = h("input", { type: "text", autocomplete: "new-password", minlength: 8 });
    const form = h(
      "form",
      { class: "stack", novalidate: true },
      h("div", { class: "grid-2" }, field(t("field.name"), name), field(t("field.email"), email)),
      h("div", { class: "grid-2" }, field(t("field.role"), role, t("agents.role_hint")), field(t("field.password_optional"), password, t("agents.password_hint"))),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", text: t("agents.invite_submit") })),
    );
    onSubmit(form, async () => {
      const body = { name: name.value.trim(), email: email.value.trim(), role: role.value, locale: i18n.locale };
      if (password.value) body.password = password.value;
      const invited = await submitting(form, () => api("POST", "/agents", body));
      name.value = "";
      email.value = "";
      password.value = "";
      await loadAgents();
      renderAgentRows();
      // The generated password exists only in this answer: show it once, plainly.
      const shown = invited.initial_password
        ? tNodes("agents.invited_with_password", {
            name: invited.name,
            email: invited.email,
            password: h("code", { class: "secret", text: invited.initial_password }),
          })
        : t("agents.invited", { name: invited.name, email: invited.email });
      showOutcome(form, h("span", {}, shown));
    });
    return form;
  }

  // --- groups ------------------------------------------------------------------------------

  async function showGroups(seq) {
    ui.main.replaceChildren(page(t("groups.title"), h("p", { class: "muted", text: t("list.loading") })));
    const account = await api("GET", "/account");
    state.account = account;
    let groups = null;
    // Asking below PRO would only be refused (and logged as an error by the browser).
    if (account.plan === "pro") {
      try {
        groups = await api("GET", "/groups");
      } catch (error) {
        if (!(error instanceof ApiError) || error.code !== "plan_lacks_feature") throw error;
      }
    }
    if (groups === null) {
      if (!current(seq)) return;
      ui.main.replaceChildren(
        page(
          t("groups.title"),
          h("p", { class: "notice plan-notice", text: t("groups.needs_pro", { plan: t(`plan.${account.plan}`) }) }),
        ),
      );
      return;
    }
    await loadAgents();
    if (!current(seq)) return;
    const manager = isManager();
    const parts = [h("p", { class: "muted", text: t("groups.intro") })];
    if (manager) parts.push(section(t("groups.create"), createGroupForm()));
    if (!groups.length) parts.push(h("p", { class: "empty", text: t("groups.none") }));
    for (const group of groups) parts.push(manager ? groupEditor(group) : groupView(group));
    if (!manager) parts.push(h("p", { class: "notice", text: t("groups.read_only") }));
    ui.main.replaceChildren(page(t("groups.title"), ...parts));
  }

  function reloadGroups(message) {
    const seq = screenSeq;
    return showGroups(seq).then(() => {
      if (message && current(seq)) {
        ui.main.querySelector(".page > h1").after(h("p", { class: "outcome outcome-ok", role: "status", text: message }));
      }
    });
  }

  function createGroupForm() {
    const name = h("input", { type: "text", required: true, autocomplete: "off" });
    const form = h(
      "form",
      { class: "inline-form", novalidate: true },
      field(t("groups.name"), name),
      h("button", { type: "submit", class: "primary", text: t("groups.create_submit") }),
    );
    onSubmit(form, async () => {
      const created = await submitting(form, () => api("POST", "/groups", { name: name.value.trim() }));
      await reloadGroups(t("groups.created", { name: created.name }));
    });
    return form;
  }

  function groupView(group) {
    const members = group.agent_ids.map(agentName);
    return section(
      group.name,
      h("p", { text: members.length ? members.join(", ") : t("groups.no_members") }),
    );
  }

  function groupEditor(group) {
    const heading = h("h2", { id: uid("group"), text: group.name });
    const name = h("input", { type: "text", value: group.name, required: true, autocomplete: "off" });
    const members = h("fieldset", { class: "members" }, h("legend", { text: t("groups.members") }));
    const boxes = [];
    for (const agent of state.agents) {
      const box = h("input", { type: "checkbox", value: String(agent.id), checked: group.agent_ids.includes(agent.id) });
      boxes.push(box);
      members.append(checkField(agent.active ? agent.name : `${agent.name} (${t("agents.inactive")})`, box));
    }
    const confirmBox = h("div", { class: "confirm", hidden: true });
    const form = h(
      "form",
      { class: "stack", novalidate: true },
      field(t("groups.name"), name),
      members,
      h(
        "div",
        { class: "actions" },
        h("button", { type: "submit", class: "primary", text: t("action.save") }),
        h("button", {
          type: "button",
          class: "danger-outline",
          text: t("groups.delete"),
          onclick: () => {
            confirmBox.hidden = false;
            confirmBox.querySelector("button").focus();
          },
        }),
      ),
      confirmBox,
    );
    // Deleting asks once more on the page itself: a browser dialog would block the socket's
    // page and cannot be styled or translated.
    const confirmText = h("p", { text: t("groups.delete_confirm", { name: group.name }) });
    confirmBox.append(
      confirmText,
      h("button", {
        type: "button",
        class: "danger",
        text: t("groups.delete_yes"),
        onclick: guarded(
          async () => {
            await api("DELETE", `/groups/${group.id}`);
            await reloadGroups(t("groups.deleted", { name: group.name }));
          },
          (error) => showOutcome(form, errorText(error), "alert"),
        ),
      }),
      h("button", { type: "button", text: t("action.cancel"), onclick: () => { confirmBox.hidden = true; } }),
    );
    onSubmit(form, async () => {
      const agentIds = boxes.filter((b) => b.checked).map((b) => Number(b.value));
      const saved = await submitting(form, () =>
        api("PATCH", `/groups/${group.id}`, { name: name.value.trim(), agent_ids: agentIds }),
      );
      // The heading names the section (and the delete question names the group).
      Object.assign(group, saved);
      heading.textContent = saved.name;
      confirmText.textContent = t("groups.delete_confirm", { name: saved.name });
      showOutcome(form, t("outcome.saved"));
    });
    return h("section", { class: "card group", "aria-labelledby": heading.id, dataset: { groupId: String(group.id) } }, heading, form);
  }

  // --- start -------------------------------------------------------------------------------

  boot().catch(() => {
    ui.root.replaceChildren(h("p", { class: "noscript", role: "alert", text: "Frontdesk could not start. Reload the page." }));
  });
})();
