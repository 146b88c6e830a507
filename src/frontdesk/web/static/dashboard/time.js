/*
 * Times as the agent reads them: in the agent's time zone (their profile's, else the
 * browser's) and language, short in the list, full on hovering.
 */

import { i18n, state } from "./state.js";
import { h } from "./dom.js";

const formatters = new Map();

// The agent's language or time zone changed: the formatters made so far are of no more use.
export function forgetFormatters() {
  formatters.clear();
}

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
export function shortTime(iso) {
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

// A moment days ahead, to the minute: "Monday, 7 December, 09:00" ("back at …").
export function dayAndTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return formatter({
    weekday: "long",
    day: "numeric",
    month: "long",
    hour: "2-digit",
    minute: "2-digit",
  }).format(date);
}

export function timeElement(iso, text) {
  return h("time", { datetime: iso, title: fullTime(iso), text: text ?? fullTime(iso) });
}

export function formatDuration(seconds) {
  const minutes = seconds >= 60 && seconds % 60 === 0;
  return new Intl.NumberFormat(i18n.locale, {
    style: "unit",
    unit: minutes ? "minute" : "second",
    unitDisplay: "long",
    maximumFractionDigits: 3,
  }).format(minutes ? seconds / 60 : seconds);
}
