/*
 * The dashboard's shared mutable state, in one place: what the page knows (state), the
 * elements it keeps to update (ui), its timers, its agent socket (live) and the language it
 * speaks (i18n). Every other module holds no state another one reads.
 */

export const state = {
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
  // online, away or offline as the server counts this agent (GET /me/status), and the
  // account's idle threshold in seconds (null: nobody is ever away).
  presenceState: "offline",
  idleAfter: null,
  folder: "unserved",
  lists: { unserved: null, mine: null, served: null, closed: null },
  conversationId: null,
  conversation: null,
  notifications: null,
  conversationError: null,
  screen: null,
  // Each screen shown takes the next number: what an earlier screen fetched is dropped when
  // it arrives after another screen took its place.
  screenSeq: 0,
};

// The elements the page keeps to update in place (the header's switch, the list, the open
// conversation's parts …), set by the screen that builds them.
export const ui = {};
export const timers = { refresh: 0, devices: 0, notifications: 0 };
export const live = { socket: null, attempt: 0, reconnectTimer: 0, pingTimer: 0, stopped: true };
// The language the page speaks: its strings, and English's for what a translation lacks.
export const i18n = { locale: "en", strings: {}, fallback: {} };
