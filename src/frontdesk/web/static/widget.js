/* The Frontdesk visitor chat widget. One tag on any website,
   <script src="https://frontdesk.example/widget.js" data-key="…" async></script>
   (optional data-group, data-locale), draws a launcher and a chat panel in a shadow root and
   talks only to the server the script came from, cross-origin. The visitor token lives in
   localStorage, so the conversation and the visitor's presence (its socket) carry over to the
   next page of the site; while no agent is online the panel is a "leave a message" form. */
(() => {
  "use strict";
  // The tag twice, or the script twice: one widget all the same.
  const LOADED = Symbol.for("frontdesk.widget");
  const script =
    document.currentScript || [...document.scripts].find((s) => /\/widget\.js([?#]|$)/.test(s.src));
  const key = script?.dataset.key;
  if (window[LOADED] || !key) return;
  window[LOADED] = true;

  // biome-ignore format: a table, read one language beside the other
  const STRINGS = {
    en: {
      open: "Open chat", chat: "Chat", close: "Close chat", title: "Chat with us",
      messages: "Messages", message: "Message", send: "Send", leave: "Leave a message",
      email: "Your e-mail", name: "Your name", sendMessage: "Send message",
      thanks: "Thanks! We will reply to you by e-mail.", you: "You", agent: "Support",
      failed: "Something went wrong. Please try again.",
      limited: (seconds) => `You are writing faster than we can take. Please wait ${seconds} s and send it again.`,
      away: "We are not online right now. Leave your e-mail and we will reply there.",
      closed: (when) => `We are closed now and back ${when}. Leave your e-mail and we will reply there.`,
      nobody: "Nobody can be reached right now: your message waits for the team. Leave your e-mail so that they can reply.",
      within: (minutes) => `Usually replies within ${minutes} min.`,
    },
    de: {
      open: "Chat öffnen", chat: "Chat", close: "Chat schließen", title: "Chatten Sie mit uns",
      messages: "Nachrichten", message: "Nachricht", send: "Senden",
      leave: "Nachricht hinterlassen",
      email: "Ihre E-Mail-Adresse", name: "Ihr Name", sendMessage: "Nachricht senden",
      thanks: "Danke! Wir antworten Ihnen per E-Mail.", you: "Sie", agent: "Support",
      failed: "Etwas ist schiefgegangen. Bitte versuchen Sie es erneut.",
      limited: (seconds) => `Sie schreiben schneller, als wir annehmen können. Bitte warten Sie ${seconds} s und senden Sie es erneut.`,
      away: "Wir sind gerade nicht online. Hinterlassen Sie Ihre E-Mail-Adresse, wir antworten dorthin.",
      closed: (when) => `Wir haben gerade geschlossen und sind ${when} wieder da. Hinterlassen Sie Ihre E-Mail-Adresse, wir antworten dorthin.`,
      nobody: "Gerade ist niemand erreichbar: Ihre Nachricht wartet auf das Team. Hinterlassen Sie Ihre E-Mail-Adresse, damit es antworten kann.",
      within: (minutes) => `Antwortet meist innerhalb von ${minutes} Min.`,
    },
    cs: {
      open: "Otevřít chat", chat: "Chat", close: "Zavřít chat", title: "Napište nám",
      messages: "Zprávy", message: "Zpráva", send: "Odeslat", leave: "Zanechte nám zprávu",
      email: "Váš e-mail", name: "Vaše jméno", sendMessage: "Odeslat zprávu",
      thanks: "Děkujeme! Odpovíme vám e-mailem.", you: "Vy", agent: "Podpora",
      failed: "Něco se pokazilo. Zkuste to prosím znovu.",
      limited: (seconds) => `Píšete rychleji, než stíháme přijímat. Počkejte prosím ${seconds} s a odešlete to znovu.`,
      away: "Právě nejsme online. Nechte nám svůj e-mail a odpovíme vám na něj.",
      closed: (when) => `Právě máme zavřeno a jsme zpět ${when}. Nechte nám svůj e-mail a odpovíme vám na něj.`,
      nobody: "Právě není nikdo k zastižení: vaše zpráva počká na tým. Nechte nám svůj e-mail, aby vám mohl odpovědět.",
      within: (minutes) => `Obvykle odpovídáme do ${minutes} min.`,
    },
  };
  const locale =
    [script.dataset.locale, document.documentElement.lang, navigator.language]
      .map((tag) => (tag || "").slice(0, 2).toLowerCase())
      .find((code) => Object.keys(STRINGS).includes(code)) || "en";
  const t = STRINGS[locale];

  // Relative to the script, so that a server under a path prefix works too.
  const base = new URL(".", script.src).href;
  const api = `${base}api/v1/widget/${encodeURIComponent(key)}`;
  const groupAttribute = script.dataset.group || "";
  const group = /^[1-9]\d{0,17}$/.test(groupAttribute) ? Number(groupAttribute) : null;
  const TOKEN_KEY = `frontdesk:${key}:visitor`;
  const OPEN_KEY = `frontdesk:${key}:open`;
  const PING_EVERY = 25000;
  // Retries of a message the server could not take (postMessage).
  const MESSAGE_RETRIES = 4;

  // Storage throws where the browser or the host page blocks it: the widget still works on
  // this page then, and only forgets the visitor on the next one.
  const stored = (area, name) => {
    try {
      return window[area].getItem(name);
    } catch {
      return null;
    }
  };
  const store = (area, name, value) => {
    try {
      if (value == null) window[area].removeItem(name);
      else window[area].setItem(name, value);
    } catch {}
  };

  let token = stored("localStorage", TOKEN_KEY);
  let online = null; // null until the server has said
  // What the server said besides: whether the team is within its hours and when it is
  // back, whether an alert says nobody can be told, the usual reply time (docs/reachability.md).
  const known = { open: true, back_at: null, nobody_to_tell: false, reply_within: null };
  let socket = null;
  let socketSpoke = false; // its widget.status is newer than any GET /status answer
  let reconnects = 0;
  const shown = new Set();

  function h(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    node.append(...children); // strings become text nodes: nothing is ever parsed as HTML
    return node;
  }

  // :host rules marked important win over the host page's rules for the host element.
  const CSS = `
:host{all:initial!important;position:fixed!important;right:20px!important;bottom:20px!important;
  z-index:2147483000!important}
*{box-sizing:border-box;margin:0;font:inherit;color:inherit}
[hidden]{display:none!important}
.root{font:15px/1.4 system-ui,sans-serif;color:#1d2330}
button{cursor:pointer;border:0;border-radius:8px;background:#2557d6;color:#fff;padding:8px 14px;
  font-weight:600}
button:disabled{opacity:.6}
:focus-visible{outline:3px solid #f0a020;outline-offset:2px}
.launcher{width:56px;height:56px;border-radius:50%;padding:14px;box-shadow:0 4px 14px #0004;
  position:relative}
.launcher svg{width:28px;height:28px;fill:#fff;display:block}
.unread::after{content:"";position:absolute;top:3px;right:3px;width:12px;height:12px;
  border-radius:50%;background:#e0352b;border:2px solid #fff}
.panel{position:absolute;right:0;bottom:68px;width:min(360px,calc(100vw - 40px));
  height:min(520px,calc(100vh - 110px));display:flex;flex-direction:column;background:#fff;
  border-radius:14px;box-shadow:0 8px 30px #0003;overflow:hidden}
header{display:flex;align-items:center;padding:12px 14px;background:#2557d6;color:#fff}
h2{flex:1;font-size:17px;font-weight:700}
.close{font-size:22px;line-height:1;padding:2px 8px}
.intro{padding:12px 14px 0;color:#444c5a}
.log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:6px}
.msg{max-width:80%;padding:7px 11px;border-radius:14px;white-space:pre-wrap;
  overflow-wrap:anywhere}
.visitor{align-self:flex-end;background:#2557d6;color:#fff}
.agent{align-self:flex-start;background:#eef1f6}
.system{align-self:center;font-size:12px;color:#596273}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
.alert:not(:empty){margin:0 12px 8px;padding:8px 10px;border-radius:8px;background:#fdecea;
  color:#8a1c13}
.notice:not(:empty){margin:0 12px 8px;color:#1f6b34;font-weight:600}
form{display:flex;flex-wrap:wrap;gap:8px;padding:10px 12px 12px;border-top:1px solid #e3e6ec}
label{flex-basis:100%;font-size:13px;color:#444c5a}
input,textarea{display:block;width:100%;margin-top:2px;padding:7px 9px;border:1px solid #b8bfcc;
  border-radius:8px;background:#fff;color:#1d2330;font-size:15px;resize:none}
.chat label{flex:1}
.chat textarea{margin:0}
`;

  const launcher = h("button", {
    type: "button",
    class: "launcher",
    "aria-label": t.open,
    "aria-expanded": "false",
    "aria-controls": "fd-panel",
  });
  const icon = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  const bubble = document.createElementNS(icon.namespaceURI, "path");
  icon.setAttribute("viewBox", "0 0 24 24");
  icon.setAttribute("aria-hidden", "true");
  bubble.setAttribute(
    "d",
    "M2 5a2 2 0 0 1 2-2h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2z",
  );
  icon.append(bubble);
  launcher.append(icon);

  const title = h("h2");
  const closer = h("button", { type: "button", class: "close", "aria-label": t.close }, "×");
  const log = h("div", {
    class: "log",
    role: "log",
    "aria-live": "polite",
    "aria-label": t.messages,
  });
  const errorBox = h("p", { class: "alert", role: "alert" });
  const notice = h("p", { class: "notice", role: "status" });
  const away = h("p", { class: "intro", hidden: "" }, t.away);
  const email = h("input", { type: "email", autocomplete: "email", maxlength: "254" });
  const name = h("input", { type: "text", autocomplete: "name", maxlength: "200" });
  const text = h("textarea", { maxlength: "10000", required: "" });
  const messageLabel = h("span", {}, t.message);
  const submit = h("button", { type: "submit" });
  const contactFields = [h("label", {}, t.email, email), h("label", {}, t.name, name)];
  // One form for both modes, so that text being typed survives a switch between them.
  const form = h(
    "form",
    { hidden: "" },
    ...contactFields,
    h("label", {}, messageLabel, text),
    submit,
  );
  const panel = h(
    "section",
    { id: "fd-panel", class: "panel", role: "dialog", "aria-label": t.chat, hidden: "" },
    h("header", {}, title, closer),
    away,
    log,
    errorBox,
    notice,
    form,
  );
  let shadow = null;

  // "at 09:00" today, else the weekday and time, in the visitor's language and zone.
  function backWhen(iso) {
    const at = new Date(iso);
    const time = at.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" });
    if (at.toDateString() === new Date().toDateString()) return time;
    return `${at.toLocaleDateString(locale, { weekday: "long", day: "numeric", month: "numeric" })} ${time}`;
  }

  function setOnline(value, said = {}) {
    online = value;
    for (const name of Object.keys(known)) if (name in said) known[name] = said[name];
    away.textContent = known.nobody_to_tell
      ? t.nobody
      : !known.open && known.back_at
        ? t.closed(backWhen(known.back_at))
        : t.away;
    // Opened before the server's first answer, the focus waited on the close button: now
    // that there is a form, it goes where the visitor writes, as it would have on opening.
    const focusWaited = form.hidden && !panel.hidden && shadow?.activeElement === closer;
    form.hidden = false;
    form.className = online ? "chat" : "away";
    title.textContent = online ? t.title : t.leave;
    away.hidden = online;
    for (const field of contactFields) field.hidden = online;
    email.required = !online;
    messageLabel.className = online ? "sr" : "";
    text.rows = online ? 2 : 4;
    submit.textContent = online ? t.send : t.sendMessage;
    if (online)
      notice.textContent = known.reply_within
        ? t.within(Math.max(1, Math.round(known.reply_within / 60)))
        : "";
    if (focusWaited) (online || email.value ? text : email).focus();
  }

  function showError(message) {
    errorBox.textContent = message || "";
  }

  function showMessage(message, live) {
    if (shown.has(message.id)) return;
    shown.add(message.id);
    const author = ["visitor", "agent"].includes(message.author) ? message.author : "system";
    const who = { visitor: t.you, agent: t.agent }[author];
    const row = h("p", { class: `msg ${author}` }, h("span", { class: "text" }, message.text));
    if (who) row.prepend(h("span", { class: "sr" }, `${who}: `)); // for screen readers
    row.dataset.id = message.id;
    // The history and live frames may arrive in either order: keep the log in message order.
    const later = [...log.children].find((other) => Number(other.dataset.id) > message.id);
    log.insertBefore(row, later || null);
    log.scrollTop = log.scrollHeight;
    if (live && author !== "visitor" && panel.hidden) launcher.classList.add("unread");
  }

  async function call(method, path, body, extra = {}) {
    const sentWith = token;
    const headers = body ? { "Content-Type": "application/json", ...extra } : { ...extra };
    if (sentWith) headers.Authorization = `Bearer ${sentWith}`;
    let response;
    try {
      response = await fetch(api + path, { method, headers, body: body && JSON.stringify(body) });
    } catch {
      throw Object.assign(new Error(t.failed), { status: 0 });
    }
    const answer = await response.json().catch(() => ({}));
    if (response.ok) return answer;
    // The server does not know this visitor (any more): the next message makes a new one.
    if (response.status === 401 && sentWith && sentWith === token) forgetVisitor();
    // Over a rate limit: how long to wait, in the visitor's language (the message is kept).
    const failure = new Error(
      response.status === 429
        ? t.limited(Number(response.headers.get("Retry-After")) || answer.error?.retry_after || 60)
        : answer.error?.message || t.failed,
    );
    throw Object.assign(failure, {
      status: response.status,
      retryAfter: Number(response.headers.get("Retry-After")) || answer.error?.retry_after || 0,
    });
  }

  // A message's key: sent again with it, the server stores the message once (a retry after
  // an answer that never came back is safe).
  function newKey() {
    if (crypto.randomUUID) return crypto.randomUUID();
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) =>
      b.toString(16).padStart(2, "0"),
    ).join("");
  }

  // The message's POST, tried again with its key while the server cannot be reached or
  // answers that it cannot take it now (502, 503, 504): after 1, 2, 4 and 8 s, or the
  // server's Retry-After.
  async function postMessage(body) {
    const key = newKey();
    for (let retry = 0; ; retry++) {
      try {
        return await call("POST", "/messages", body, { "Idempotency-Key": key });
      } catch (error) {
        const passing = error.status === 0 || [502, 503, 504].includes(error.status);
        if (!passing || retry >= MESSAGE_RETRIES) throw error;
        const wait = Math.max(error.retryAfter || 0, 2 ** retry);
        await new Promise((resolve) => setTimeout(resolve, wait * 1000));
      }
    }
  }

  function forgetVisitor() {
    token = null;
    store("localStorage", TOKEN_KEY, null);
    socket?.close();
  }

  function pageUrl() {
    const href = location.href; // the API takes http(s) addresses up to 2,048 characters
    return /^https?:$/.test(location.protocol) && href.length <= 2048 ? { page_url: href } : {};
  }

  function contact() {
    const fields = { email: email.value.trim() };
    if (name.value.trim()) fields.name = name.value.trim();
    return fields;
  }

  async function send(message) {
    for (let attempt = 1; ; attempt++) {
      try {
        if (!token) {
          const details = { ...(online ? {} : contact()), ...pageUrl(), locale };
          const created = await call("POST", "/visitors", details);
          token = created.visitor_token;
          store("localStorage", TOKEN_KEY, token);
        } else if (!online) {
          await call("PATCH", "/visitor", contact());
        }
        const body = group ? { text: message, group_id: group } : { text: message };
        const posted = await postMessage(body);
        showMessage({ id: posted.message_id, author: "visitor", text: message }, false);
        connect();
        return;
      } catch (error) {
        // call() has forgotten a visitor the server did not know: once more, as a new one.
        if (error.status !== 401 || attempt > 1) throw error;
      }
    }
  }

  function loadConversation() {
    call("GET", "/conversation").then(
      (answer) => {
        for (const message of answer.conversation?.messages || []) showMessage(message, false);
      },
      (error) => error.status === 401 || showError(error.message),
    );
  }

  function resync() {
    call("GET", "/conversation").then(
      (answer) => {
        for (const message of answer.conversation?.messages || []) showMessage(message, true);
      },
      () => {},
    );
    call("GET", group ? `/status?group_id=${group}` : "/status").then(
      (status) => setOnline(status.online, status),
      () => {},
    );
  }

  function refreshStatus() {
    call("GET", group ? `/status?group_id=${group}` : "/status").then(
      (status) => (socketSpoke ? setOnline(online, status) : setOnline(status.online, status)),
      (error) => {
        if (online === null) setOnline(false); // a message left now still has a chance
        showError(error.message);
      },
    );
  }

  function connect() {
    if (socket || !token) return;
    const query = new URLSearchParams({ widget_key: key });
    if (group) query.set("group_id", group);
    // The token as a subprotocol, not in the URL that servers and proxies write to logs.
    const ws = new WebSocket(`${base.replace(/^http/, "ws")}api/v1/widget/ws?${query}`, [
      "frontdesk",
      `frontdesk.token.${token}`,
    ]);
    let pinger = 0;
    socket = ws;
    ws.onopen = () => {
      pinger = setInterval(() => ws.send('{"type":"ping"}'), PING_EVERY);
      if (reconnects) loadConversation(); // replies written while the socket was down
    };
    ws.onmessage = (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === "widget.status") {
        reconnects = 0;
        socketSpoke = true;
        setOnline(frame.online, frame);
      } else if (frame.type === "message.created") {
        showMessage(frame.message, true);
      } else if (frame.type === "resync") {
        // The server's live frames were interrupted: what they told is read again.
        resync();
      } else if (frame.type === "error" && frame.error?.code !== "invalid_visitor_token") {
        showError(frame.error?.message);
      }
    };
    ws.onclose = (event) => {
      clearInterval(pinger);
      if (socket === ws) socket = null;
      socketSpoke = false;
      if (event.code === 4401) {
        forgetVisitor(); // refused: the server does not know the token
      } else if (event.code !== 4400 && token) {
        // Exponential, with full jitter: the widgets of a site whose server restarted
        // come back spread over two seconds, then four, not all in the same one.
        const step = Math.min(30000, 1000 * 2 ** reconnects++);
        setTimeout(connect, Math.max(250, Math.random() * step * 2));
      }
    };
  }

  function toggle(open, moveFocus = true) {
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", String(open));
    store("sessionStorage", OPEN_KEY, open ? "1" : null);
    if (open) {
      launcher.classList.remove("unread");
      // Without a socket nothing tells of a change (while null, the first answer is coming).
      if (!socket && online !== null) refreshStatus();
      if (moveFocus) (form.hidden ? closer : online || email.value ? text : email).focus();
    } else if (moveFocus) {
      launcher.focus();
    }
  }

  launcher.addEventListener("click", () => toggle(panel.hidden));
  closer.addEventListener("click", () => toggle(false));
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") toggle(false);
  });
  text.addEventListener("keydown", (event) => {
    if (online && event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (text.value.trim()) submit.click();
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const message = text.value.trim(); // the server refuses blank messages
    if (!message || submit.disabled) return;
    const wasOnline = online;
    submit.disabled = true;
    showError("");
    try {
      await send(message);
      text.value = "";
      notice.textContent = wasOnline ? "" : t.thanks;
    } catch (error) {
      showError(error.message);
    } finally {
      submit.disabled = false;
      // Disabling the focused button dropped the focus: back to where the visitor writes.
      if (!shadow.activeElement && !panel.hidden) text.focus();
    }
  });

  function mount() {
    const host = document.createElement("frontdesk-chat");
    shadow = host.attachShadow({ mode: "open" });
    shadow.append(h("style", {}, CSS), h("div", { class: "root", lang: locale }, panel, launcher));
    document.body.append(host);
    if (token) {
      connect();
      loadConversation();
      const page = pageUrl();
      if (page.page_url) {
        call("PATCH", "/visitor", page).then(
          (visitor) => {
            if (!email.value) email.value = visitor.email || "";
            if (!name.value) name.value = visitor.name || "";
          },
          () => {},
        );
      }
    }
    refreshStatus();
    if (stored("sessionStorage", OPEN_KEY)) toggle(true, false);
  }

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
