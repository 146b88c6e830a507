/*
 * A new conversation while this tab is in the background: a short sound and a system
 * notification (through the service worker, so a click opens the conversation as a push's
 * does). Switched per browser in the profile, on by default; the notification needs the
 * browser's permission, the sound only the click that logged in.
 */

import { KEYS, stored, store } from "./config.js";
import { t } from "./strings.js";
import { visitorName } from "./api.js";

// Conversations created while hidden, waiting for their first message's words.
const waiting = new Map();
let audio = null;

export function alertsOn() {
  return stored(KEYS.alerts) !== "off";
}

export function setAlerts(on) {
  store(KEYS.alerts, on ? "on" : "off");
}

export function onConversationCreated(conversation) {
  if (!alertsOn() || document.visibilityState !== "hidden") return;
  waiting.set(conversation.id, conversation);
  chime();
}

export function onMessageCreated(message) {
  const conversation = waiting.get(message.conversation_id);
  if (!conversation || message.author !== "visitor") return;
  waiting.delete(message.conversation_id);
  notify(conversation, message.text);
}

function chime() {
  try {
    audio ??= new AudioContext();
    const tone = audio.createOscillator();
    const volume = audio.createGain();
    tone.frequency.value = 880;
    volume.gain.setValueAtTime(0.15, audio.currentTime);
    volume.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
    tone.connect(volume).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.4);
  } catch {
    // No audio here (or not allowed yet): the notification still comes.
  }
}

async function notify(conversation, text) {
  if (!("Notification" in window) || Notification.permission !== "granted") {
    console.info("Frontdesk: notifications are not allowed here; the sound has told it.");
    return;
  }
  try {
    const registration = await navigator.serviceWorker.ready;
    await registration.showNotification(
      t("alert.new_conversation", { who: visitorName(conversation.visitor) }),
      {
        body: text,
        tag: `frontdesk-conversation-${conversation.id}`,
        icon: "/static/icons/icon-192.png",
        data: { conversationId: conversation.id },
      },
    );
  } catch (error) {
    // No service worker, or the browser refused: the sound and the Unserved count have
    // told it, and the console says why (for whoever asks why no notification came).
    console.warn("Frontdesk: no notification for a new conversation:", error);
  }
}
