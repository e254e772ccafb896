// SES's account suppression list: each address as the stack's keyed hash and domain (the address
// only when the operator asks), why and since when, filtered by reason; one address looked up
// (reason, date, the SES message and feedback ids); a suppression lifted after the stack's name is
// typed, as a redrive is confirmed. The address an operator types is never put in the page's URL.

import { api, claim, currentStack, el, fill, showError } from "./ui.js";

const REASONS = ["BOUNCE", "COMPLAINT"];

/** The view; `notice` is a lift's answer, shown above it. */
export async function showSuppressions(view, parts, query, notice) {
  const current = claim();
  const redraw = (text) => showSuppressions(view, parts, query, text);
  const stack = await currentStack();
  if (!current()) return;
  const reason = el("select", { name: "reason", "data-testid": "suppression-reason", "aria-label": "reason" },
    el("option", { value: "" }, "any reason"),
    REASONS.map((r) => el("option", { value: r, selected: query.get("reason") === r }, r)));
  const since = el("input", { name: "since", value: query.get("since") || "", placeholder: "2026-11-22T08:00:00Z",
                              "data-testid": "suppression-since", "aria-label": "since" });
  const shown = el("input", { type: "checkbox", name: "addresses", checked: query.get("addresses") === "true",
                              "data-testid": "show-addresses" });
  const filter = el("form", { class: "search", "data-testid": "suppression-filter", onsubmit: (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    if (reason.value) params.set("reason", reason.value);
    if (since.value.trim()) params.set("since", since.value.trim());
    if (shown.checked) params.set("addresses", "true");
    location.hash = `#/suppressions?${params}`;
  } }, el("label", {}, "reason", reason), el("label", {}, "updated since", since),
     el("label", { class: "inline" }, shown, " show addresses"), el("button", { type: "submit" }, "List"));
  const found = el("div", { "data-testid": "suppression-lookup-result" });
  const address = el("input", { type: "email", size: 36, placeholder: "someone@example.com", "data-testid": "lookup-address",
                                "aria-label": "address" });
  const lookup = el("form", { class: "search", "data-testid": "suppression-lookup", onsubmit: (event) => {
    event.preventDefault();
    lookUp(address.value.trim(), found, stack, redraw).catch((error) => showError(error.message));
  } }, el("label", {}, "look up an address", address), el("button", { type: "submit", "data-testid": "lookup-button" }, "Why suppressed?"));
  const listed = el("div", { "data-testid": "suppression-list" }, el("p", { class: "muted" }, "Loading…"));
  fill(view, el("h2", {}, "Suppressions"),
    notice ? el("p", { class: "ok-box", "data-testid": "lift-result" }, notice) : null,
    el("p", { class: "muted" }, `SES's account-level suppression list in ${stack.region || "the stack's region"}: `,
       "SES accepts a send to an address on it and sends nothing (its status is suppressed). The list is the ",
       "account's, so other stacks in the same account and region share it."),
    lookup, found, filter, listed);
  const answer = await api(`suppressions?${query}`);
  if (!current()) return;
  fill(listed, summary(answer), table(answer, stack, redraw));
}

function summary(answer) {
  const count = answer.suppressed.length;
  return el("p", { class: "muted", "data-testid": "suppression-count" },
    `${count} suppressed address${count === 1 ? "" : "es"} (${answer.reasons.join(", ")})`,
    answer.more ? `, the first ${answer.limit}: narrow the reason or date` : "", ".");
}

function who(recipient) {
  return recipient.address || `${recipient.hash}@${recipient.domain}`;
}

function table(answer, stack, redraw) {
  if (!answer.suppressed.length) return el("p", { "data-testid": "no-suppressions" }, "No address is suppressed.");
  return el("table", { class: "suppressions", "data-testid": "suppression-table" },
    el("thead", {}, el("tr", {}, ["Address (hash@domain)", "Reason", "Last updated", ""].map((h) => el("th", {}, h)))),
    el("tbody", {}, answer.suppressed.map((entry) => el("tr", {
      "data-testid": "suppressed", "data-reason": entry.reason, "data-hash": entry.recipient.hash || "",
    },
      el("td", {}, el("code", { title: entry.recipient.hash || "" }, who(entry.recipient))),
      el("td", {}, el("span", { class: "badge error" }, entry.reason)), el("td", {}, entry.since),
      el("td", {}, entry.recipient.address
        ? liftButton(entry.recipient.address, entry, stack, redraw)
        : el("span", { class: "muted" }, "look it up to lift it"))))));
}

async function lookUp(address, found, stack, redraw) {
  showError("");
  if (!address) return;
  const entry = await api(`suppressions/${encodeURIComponent(address)}`);
  const fields = [["Address (hash@domain)", who(entry.recipient)],
    ["Reason", entry.reason], ["Last updated", entry.since], ["SES message id", entry.sesMessageId],
    ["Feedback id", entry.feedbackId]];
  fill(found, el("div", { class: "card", "data-testid": "suppression-entry" },
    el("dl", { class: "fields" }, fields.filter(([, value]) => value).map(([name, value]) => [el("dt", {}, name), el("dd", {}, value)])),
    entry.sesMessageId ? el("p", {}, el("a", { href: `#/messages/${encodeURIComponent(entry.sesMessageId)}` },
                                         "The message that put it on the list")) : null,
    liftButton(address, entry, stack, redraw)));
}

function liftButton(address, entry, stack, redraw) {
  return el("button", { type: "button", "data-testid": "lift", onclick: () => lift(address, entry, stack, redraw) },
    "Lift suppression");
}

async function lift(address, entry, stack, redraw) {
  const question = `Lift the suppression (${entry.reason} since ${entry.since}) of this address on ${stack.stack}'s ` +
    "account? SES will send to it again. Type the stack's name to confirm:";
  const typed = window.prompt(question, stack.mode === "local" ? stack.stack : "");
  if (typed === null) return;
  try {
    const lifted = await api("suppressions/lift", { address, confirm: typed });
    await redraw(`Lifted: SES sends to it again (it had been suppressed for ${lifted.reason} since ${lifted.since}). ` +
      `Logged as lifted by ${lifted.audit.by} at ${lifted.audit.at}, without the address.`);
  } catch (error) {
    showError(error.message);
  }
}
