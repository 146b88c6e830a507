/*
 * Settings → Business hours (docs/reachability.md): the account's weekly openings in a time
 * zone and its dated exceptions (a holiday closed all day, a shorter Christmas Eve), and
 * whether the team is within them now. Everyone reads them; owners and admins change them.
 * Switched off, the account has none: always open. The server checks the hours; what it
 * refuses is shown in its own words and nothing changes.
 */

import { i18n } from "./state.js";
import { t, tNodes } from "./strings.js";
import { dayAndTime, timeElement } from "./time.js";
import {
  checkField,
  errorText,
  field,
  h,
  onSubmit,
  section,
  showOutcome,
  submitting,
  uid,
} from "./dom.js";
import { ApiError, api, isManager } from "./api.js";

const WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
// What a day gets when the hours are switched on for the first time.
const FIRST_OPENING = { from: "09:00", to: "17:00" };
const WORKDAYS = new Set(WEEKDAYS.slice(0, 5));

// The section is shown at once and fills itself in when the server has answered.
export function hoursSection() {
  const body = h("div", { class: "stack" }, h("p", { class: "muted", text: t("list.loading") }));
  api("GET", "/settings/hours").then(
    (answer) => body.replaceChildren(...editor(answer)),
    (error) =>
      body.replaceChildren(h("p", { class: "outcome outcome-error", text: errorText(error) })),
  );
  return section(t("hours.title"), body);
}

function editor(answer) {
  const manager = isManager();
  const now = h("p", { class: "hours-now", role: "status" });
  const showNow = (state) => now.replaceChildren(...nowText(state));
  showNow(answer);

  const stored = answer.hours;
  const on = h("input", {
    type: "checkbox",
    role: "switch",
    class: "switch",
    checked: stored !== null,
    disabled: !manager,
  });
  const zone = h("input", {
    type: "text",
    value: stored?.time_zone ?? browserZone(),
    autocomplete: "off",
    spellcheck: "false",
    disabled: !manager,
  });
  const zones = h(
    "datalist",
    { id: uid("zones") },
    knownZones().map((name) => h("option", { value: name })),
  );
  zone.setAttribute("list", zones.id);

  const days = WEEKDAYS.map((day, index) => {
    const openings = stored
      ? (stored.weekly[day] ?? [])
      : WORKDAYS.has(day)
        ? [intervalOf(FIRST_OPENING)]
        : [];
    return { day, rows: openingsEditor(weekdayName(index), openings, manager, t("hours.closed")) };
  });
  const exceptionList = h("div", { class: "stack hours-exceptions" });
  const exceptions = [];
  const addException = (date, openings) => {
    const row = exceptionEditor(date, openings, manager, () => {
      exceptions.splice(exceptions.indexOf(row), 1);
      row.element.remove();
    });
    exceptions.push(row);
    exceptionList.append(row.element);
    return row;
  };
  for (const [date, openings] of Object.entries(stored?.exceptions ?? {}))
    addException(date, openings);
  const addButton = manager
    ? h("button", {
        type: "button",
        text: t("hours.add_exception"),
        onclick: () => addException("", []).focus(),
      })
    : null;

  const details = h(
    "div",
    { class: "stack", hidden: !on.checked },
    field(t("hours.time_zone"), zone, t("hours.time_zone_hint")),
    zones,
    h(
      "fieldset",
      { class: "stack hours-week" },
      h("legend", { text: t("hours.weekly") }),
      h("p", { class: "hint", text: t("hours.weekly_hint") }),
      days.map(({ rows }) => rows.element),
    ),
    h(
      "fieldset",
      { class: "stack" },
      h("legend", { text: t("hours.exceptions") }),
      h("p", { class: "hint", text: t("hours.exceptions_hint") }),
      exceptionList,
      addButton,
    ),
  );
  on.addEventListener("change", () => {
    details.hidden = !on.checked;
  });

  const form = h(
    "form",
    { class: "stack hours", novalidate: true },
    checkField(t("hours.switch"), on, t("hours.switch_hint")),
    details,
    manager
      ? h(
          "div",
          { class: "actions" },
          h("button", { type: "submit", class: "primary", text: t("action.save") }),
        )
      : h("p", { class: "notice", text: t("hours.read_only") }),
  );
  onSubmit(form, async () => {
    if (!on.checked) {
      await submitting(form, () => api("DELETE", "/settings/hours"));
      showNow({ hours: null, open: true, back_at: null });
      showOutcome(form, t("outcome.saved"));
      return;
    }
    const weekly = {};
    const dated = {};
    try {
      for (const { day, rows } of days) {
        const openings = rows.value();
        if (openings.length) weekly[day] = openings;
      }
      for (const row of exceptions) {
        const [date, openings] = row.value();
        if (date in dated) throw new Incomplete(t("hours.date_twice", { date }));
        dated[date] = openings;
      }
    } catch (error) {
      if (!(error instanceof Incomplete)) throw error;
      showOutcome(form, error.message, "alert");
      return;
    }
    let saved;
    try {
      saved = await submitting(form, () =>
        api("PUT", "/settings/hours", { time_zone: zone.value.trim(), weekly, exceptions: dated }),
      );
    } catch (error) {
      if (!(error instanceof ApiError && error.code === "invalid_hours")) throw error;
      showOutcome(form, t("hours.invalid", { message: error.message }), "alert");
      return;
    }
    showNow(saved);
    showOutcome(form, t("outcome.saved"));
  });
  return [h("p", { class: "muted", text: t("hours.intro") }), now, form];
}

// Something the page can tell before asking the server: an opening with one end only.
class Incomplete extends Error {}

function nowText(answer) {
  if (answer.hours === null) return [t("hours.always_open")];
  if (answer.open) return [t("hours.open_now")];
  if (!answer.back_at) return [t("hours.closed_not_back")];
  return tNodes("hours.closed_back_at", {
    at: timeElement(answer.back_at, dayAndTime(answer.back_at)),
  });
}

// A day's (or a date's) openings: "closed", or one or more from–to pairs.
function openingsEditor(name, openings, manager, closedLabel) {
  const closed = h("input", {
    type: "checkbox",
    checked: openings.length === 0,
    disabled: !manager,
  });
  const list = h("div", { class: "hours-openings" });
  const pairs = [];
  const removeOf = (pair) => {
    pairs.splice(pairs.indexOf(pair), 1);
    pair.element.remove();
    if (!pairs.length) {
      closed.checked = true;
      sync();
    }
  };
  const addPair = (interval) => {
    const pair = openingPair(interval, manager, () => removeOf(pair));
    pairs.push(pair);
    list.append(pair.element);
    return pair;
  };
  const more = manager
    ? h("button", {
        type: "button",
        class: "link-button",
        text: t("hours.add_opening"),
        onclick: () => addPair("").from.focus(),
      })
    : null;
  const sync = () => {
    if (!closed.checked && !pairs.length) addPair(intervalOf(FIRST_OPENING));
    list.hidden = closed.checked;
    if (more) more.hidden = closed.checked;
  };
  for (const interval of openings) addPair(interval);
  closed.addEventListener("change", sync);
  sync();
  const element = h(
    "div",
    { class: "hours-day", role: "group", "aria-label": name },
    h("span", { class: "hours-name", text: name }),
    checkField(closedLabel, closed),
    list,
    more,
  );
  return {
    element,
    // The openings as the API takes them, or Incomplete when one has a single end.
    value() {
      if (closed.checked) return [];
      const given = [];
      for (const pair of pairs) {
        const from = pair.from.value;
        const to = pair.to.value;
        if (!from && !to) continue;
        if (!from || !to) throw new Incomplete(t("hours.incomplete", { day: name }));
        // An opening to midnight ends with the day: 24:00, which a time field cannot show.
        given.push(`${from}-${to === "00:00" ? "24:00" : to}`);
      }
      return given;
    },
    setName(text) {
      element.setAttribute("aria-label", text);
      element.querySelector(".hours-name").textContent = text;
    },
  };
}

function openingPair(interval, manager, remove) {
  const [from, to] = interval ? interval.split("-") : ["", ""];
  const start = h("input", {
    type: "time",
    value: from,
    "aria-label": t("hours.from"),
    disabled: !manager,
  });
  const end = h("input", {
    type: "time",
    value: to === "24:00" ? "00:00" : to,
    "aria-label": t("hours.to"),
    disabled: !manager,
  });
  const element = h(
    "div",
    { class: "inline hours-opening" },
    start,
    h("span", { "aria-hidden": "true", text: "–" }),
    end,
    manager
      ? h("button", {
          type: "button",
          class: "link-button",
          text: t("hours.remove_opening"),
          onclick: remove,
        })
      : null,
  );
  return { element, from: start, to: end };
}

// One dated exception: its date, then its openings as a weekday's.
function exceptionEditor(date, openings, manager, remove) {
  const day = h("input", {
    type: "date",
    value: date,
    "aria-label": t("hours.date"),
    disabled: !manager,
  });
  const rows = openingsEditor(dateName(date), openings, manager, t("hours.closed_all_day"));
  day.addEventListener("change", () => rows.setName(dateName(day.value)));
  const element = h(
    "div",
    { class: "hours-exception" },
    day,
    rows.element,
    manager
      ? h("button", {
          type: "button",
          class: "link-button",
          text: t("hours.remove_exception"),
          onclick: remove,
        })
      : null,
  );
  return {
    element,
    focus: () => day.focus(),
    value() {
      if (!day.value) throw new Incomplete(t("hours.date_missing"));
      return [day.value, rows.value()];
    },
  };
}

function intervalOf({ from, to }) {
  return `${from}-${to}`;
}

// Monday … Sunday in the agent's language: 2024-01-01 was a Monday.
function weekdayName(index) {
  const format = new Intl.DateTimeFormat(i18n.locale, { weekday: "long", timeZone: "UTC" });
  return format.format(new Date(Date.UTC(2024, 0, 1 + index)));
}

// A date of the hours as the agent reads it; it is a day in the hours' zone, so no zone here.
function dateName(text) {
  const date = new Date(`${text}T00:00:00Z`);
  if (!text || Number.isNaN(date.getTime())) return t("hours.new_exception");
  return new Intl.DateTimeFormat(i18n.locale, { dateStyle: "full", timeZone: "UTC" }).format(date);
}

function browserZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

function knownZones() {
  const zones =
    typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  return zones.includes("UTC") ? zones : [...zones, "UTC"];
}
