/*
 * Frontdesk's service worker (docs/push.md): it shows the pushes the engine sends to this
 * browser or phone as system notifications, and a click on one opens its conversation in
 * the dashboard. It handles nothing else: the dashboard is always loaded from the server.
 *
 * A push's words (the visitor's name and message) are shown as a notification's title and
 * body, which are plain text by definition; the conversation to open is taken as a number
 * and the address built here, on this origin, never taken from the push.
 */

self.addEventListener("install", () => {
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {};
  }
  const text = (value, fallback) => (typeof value === "string" && value.trim() ? value : fallback);
  const conversationId = Number.isSafeInteger(data.conversation_id) ? data.conversation_id : null;
  const options = {
    body: text(data.body, ""),
    icon: "/static/icons/icon-192.png",
    data: { conversationId },
  };
  if (conversationId) {
    // One notification per conversation: a newer push replaces the older one, and says so.
    options.tag = `frontdesk-conversation-${conversationId}`;
    options.renotify = true;
  }
  event.waitUntil(self.registration.showNotification(text(data.title, "Frontdesk"), options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const id = event.notification.data?.conversationId;
  event.waitUntil(openDashboard(id ? `#/conversations/${id}` : "#/conversations"));
});

async function openDashboard(hash) {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const open = windows.find((client) => new URL(client.url).pathname === "/app");
  if (open) {
    // The open dashboard shows the conversation (and marks it read) when it hears this.
    open.postMessage({ type: "frontdesk.open", hash });
    try {
      await open.focus();
    } catch {
      // Focusing needs the user's click; the conversation is open in that tab all the same.
    }
    return;
  }
  await self.clients.openWindow(`/app${hash}`);
}
