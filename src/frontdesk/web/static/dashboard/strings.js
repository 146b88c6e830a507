/*
 * Every string of the dashboard comes from /static/locales/<locale>.json, English filling
 * the gaps. t() fills a sentence's {placeholders} with text; tNodes() with elements.
 */

import { CONFIG, KEYS, stored } from "./config.js";
import { i18n } from "./state.js";

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

export async function useLocale(wanted) {
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

export function browserLocale() {
  const chosen = stored(KEYS.locale);
  if (chosen && CONFIG.locales.includes(chosen)) return chosen;
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const language = String(tag).slice(0, 2).toLowerCase();
    if (CONFIG.locales.includes(language)) return language;
  }
  return "en";
}

export function t(key, params) {
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
export function tNodes(key, params) {
  const parts = t(key).split(/(\{\w+\})/);
  return parts.map((part) => {
    const name = /^\{(\w+)\}$/.exec(part);
    if (!name || !(name[1] in params)) return part;
    const value = params[name[1]];
    return value instanceof Node ? value : String(value);
  });
}
