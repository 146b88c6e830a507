/*
 * Frontdesk's agent dashboard: one page, no framework and no build step, that talks to the
 * HTTP API (/api/v1) and the agent WebSocket like any other client. The part of the URL after
 * "#" picks the screen (#/conversations[/id], #/settings, #/profile, #/agents, #/groups); every
 * string comes from /static/locales/<locale>.json; the socket keeps this browser's device
 * online or offline and tells the page when to fetch again. Visitor and agent text only ever
 * reaches the page through textContent, never as HTML, so hostile text stays text.
 *
 * This module starts the page. The others, one per part of the page (native ES modules,
 * loaded from one versioned folder, see web/routes.py):
 *
 *   config.js        the server's configuration, the tunables, this browser's localStorage
 *   state.js         the shared mutable state: what the page knows and the elements it updates
 *   strings.js       the locale files and t()
 *   time.js          times in the agent's time zone and language
 *   dom.js           h() and the form helpers; errors become words on the page
 *   api.js           the HTTP API, and the agents' names
 *   session.js       starting the page, logging in and out, ending the session
 *   signed-out.js    log in, create an account
 *   shell.js         the header (online switch, other devices) and the sidebar
 *   banner.js        the owners' and admins' banner of open alerts (nobody was told)
 *   socket.js        the agent WebSocket and its frames
 *   refresh.js       one fetch after a burst of frames
 *   routing.js       #/… picks the screen
 *   inbox.js         the folder tabs and the conversation list
 *   conversation.js  the open conversation
 *   why.js           "Who was told, and how"
 *   push.js          the service worker, and the profile's push notifications
 *   alerts.js        a sound and a notification for a new conversation in a hidden tab
 *   hours.js         Settings → business hours: the week, the exceptions, open now or not
 *   settings.js, profile.js, agents.js, groups.js: the other screens
 */

import { h } from "./dom.js";
import { boot } from "./session.js";
import { ui } from "./state.js";

boot().catch(() => {
  ui.root.replaceChildren(
    h("p", {
      class: "noscript",
      role: "alert",
      text: "Frontdesk could not start. Reload the page.",
    }),
  );
});
