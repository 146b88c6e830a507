/*
 * Building the page: h() makes an element whose text only ever enters through textContent,
 * the form fields and sections every screen uses, and the way an action's error becomes
 * words on the page instead of an unhandled rejection.
 */

import { SESSION_ENDED } from "./config.js";
import { state, ui } from "./state.js";
import { t } from "./strings.js";
import { ApiError } from "./api.js";

const PROPERTIES = new Set(["value", "checked", "disabled", "hidden", "required", "selected"]);

export function h(tag, props = {}, ...children) {
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

let idSeq = 0;

export function uid(prefix) {
  idSeq += 1;
  return `${prefix}-${idSeq}`;
}

// The hint under a field, which describes its input to assistive technology; null without one.
function hintOf(input, hint) {
  if (!hint) return null;
  const hintElement = h("p", { class: "hint", id: `${input.id}-hint` }, hint);
  input.setAttribute("aria-describedby", hintElement.id);
  return hintElement;
}

export function field(label, input, hint) {
  input.id = input.id || uid("field");
  const hintElement = hintOf(input, hint);
  return h(
    "div",
    { class: "field" },
    h("label", { for: input.id, text: label }),
    input,
    hintElement,
  );
}

export function checkField(label, input, hint) {
  input.id = input.id || uid("check");
  const hintElement = hintOf(input, hint);
  return h(
    "div",
    { class: "field field-check" },
    input,
    h("div", {}, h("label", { for: input.id, text: label }), hintElement),
  );
}

export function select(options, value) {
  return h(
    "select",
    { value },
    options.map(([optionValue, label]) => h("option", { value: optionValue, text: label })),
  );
}

export function section(title, ...children) {
  const heading = h("h2", { id: uid("section"), text: title });
  return h("section", { class: "card", "aria-labelledby": heading.id }, heading, ...children);
}

export function page(title, ...children) {
  return h("div", { class: "page" }, h("h1", { text: title }), ...children);
}

// One term of a description list: the visitor's details, a decision's times.
export function detail(term, value, kind) {
  return h(
    "div",
    { class: `detail${kind ? ` detail-${kind}` : ""}` },
    h("dt", { text: term }),
    h("dd", {}, value),
  );
}

// A form's outcome: "Saved" as a status, a refusal as an alert, replacing the previous one.
export function showOutcome(form, message, kind = "status") {
  for (const old of form.querySelectorAll(":scope > .outcome")) old.remove();
  if (!message) return;
  const outcome = h("p", {
    class: `outcome outcome-${kind === "alert" ? "error" : "ok"}`,
    role: kind,
  });
  append(outcome, [message]);
  form.append(outcome);
}

// A refusal the page words itself (the browser cannot do something), shown as it is.
export class Refusal extends Error {}

export function errorText(error) {
  if (error instanceof Refusal) return error.message;
  if (!(error instanceof ApiError)) return t("error.unexpected");
  if (error.code === "invalid_input" && Array.isArray(error.details) && error.details.length) {
    return error.details.map(problemText).join(" ");
  }
  const known = `error.${error.code}`;
  if (t(known) !== known) return t(known);
  return t("error.server_said", { message: error.message || error.code });
}

function problemText(detail) {
  const name = String(detail.field || "")
    .split(".")
    .pop();
  const problem = `problem.${name}`;
  if (t(problem) !== problem) return t(problem);
  const label = t(`field.${name}`) !== `field.${name}` ? t(`field.${name}`) : name;
  return `${label}: ${detail.problem}`;
}

// Every handler runs through here: an error becomes text on the page, never an unhandled
// rejection, and nothing is reported once the session has ended.
export function guarded(action, onError) {
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
export function onSubmit(form, action) {
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

export function reportProblem(error) {
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

export async function submitting(form, work) {
  const buttons = form.querySelectorAll("button");
  for (const button of buttons) button.disabled = true;
  try {
    return await work();
  } finally {
    for (const button of buttons) button.disabled = false;
  }
}
