// The message log: locally, every email the emulated SES accepted (newest first, searchable);
// on a deployed stack, what a search by idempotency key, event id, SES message id or address
// finds in the status records and trace. Each message opens with its parts, tags, correlation
// fields and delivery timeline; the timeline refreshes until every recipient has a final status.

import { api, claim, currentStack, el, emailFrame, fill, sourceView, tabbed } from "./ui.js";

const FINAL = new Set(["bounced", "complained", "rejected", "rendering_failed", "suppressed"]);
const REFRESH_MS = 1500;
let refresh = null;

export async function showMessages(view, parts, query) {
  clearTimeout(refresh);
  const current = claim();
  const stack = await currentStack();
  if (!current()) return;
  if (parts[0]) {
    await showMessage(view, parts[0], stack);
    return;
  }
  const fields = ["q", "recipient", "subject", "template", "source", "key"];
  const inputs = Object.fromEntries(fields.map((field) => [field, el("input", {
    name: field, value: query.get(field) || "", "data-testid": `search-${field}`, "aria-label": field,
    placeholder: field === "q" ? (stack.outbox ? "anything" : "key, event id, SES message id or address") : field,
  })]));
  const results = el("div", { "data-testid": "results" });
  const form = el("form", { class: "search", "data-testid": "search", onsubmit: (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const field of fields) if (inputs[field].value.trim()) params.set(field, inputs[field].value.trim());
    location.hash = `#/messages?${params}`;
  } }, stack.outbox ? fields.map((field) => el("label", {}, field === "q" ? "search" : field, inputs[field]))
                     : el("label", {}, "search", inputs.q),
     el("button", { type: "submit" }, "Search"),
     el("button", { type: "button", "data-testid": "refresh", onclick: () => showResults(results, query, stack) },
        "Refresh"));
  fill(view, el("h2", {}, stack.outbox ? "Outbox" : "Message log"), form, results);
  await showResults(results, query, stack);
}

/** The list for the query; on the local stack it refreshes itself while an email is on its way or awaits SES. */
async function showResults(results, query, stack) {
  clearTimeout(refresh);
  const current = claim();
  const list = await api(`messages?${query}`);
  if (!current()) return;  // a newer search, refresh or view answered first
  fill(results,
    list.hint ? el("p", { class: "muted", "data-testid": "hint" }, list.hint) : null,
    el("p", { class: "muted" }, summaryLine(list)),
    table(list.messages),
    list.dead_letters && list.dead_letters.length ? deadLetterLines(list.dead_letters) : null);
  const filtered = [...query.values()].some((value) => value.trim());
  const waiting = (filtered && !list.messages.length) || list.messages.some((m) => m.recipients.some((r) => r.status === "sent"));
  if (stack.outbox && waiting) {
    refresh = setTimeout(() => { if (current()) showResults(results, query, stack).catch(() => {}); }, REFRESH_MS);
  }
}

function summaryLine(list) {
  if (list.mode === "local") return `${list.matched} of ${list.total} emails, newest first.`;
  return `${list.matched} found.`;
}

function statusBadges(recipients) {
  return recipients.map((r) => el("span", { class: `badge status-${r.status}`, title: r.address || r.hash,
                                           "data-testid": "recipient-status" },
                                  `${r.address || `${r.hash.slice(0, 8)}…@${r.domain}`}: ${r.status}`));
}

function table(messages) {
  if (!messages.length) return el("p", { "data-testid": "no-messages" }, "No messages.");
  return el("table", { class: "messages", "data-testid": "message-table" },
    el("thead", {}, el("tr", {}, ["Sent", "Subject", "Template", "Lane", "Source", "Recipients"].map((h) => el("th", {}, h)))),
    el("tbody", {}, messages.map((message) => el("tr", { "data-testid": "message-row", "data-id": message.id },
      el("td", {}, message.sent_at || "—"),
      el("td", {}, el("a", { href: `#/messages/${encodeURIComponent(message.id)}` }, message.subject || message.id)),
      el("td", {}, message.template), el("td", {}, message.lane), el("td", {}, message.source),
      el("td", {}, statusBadges(message.recipients))))));
}

function deadLetterLines(letters) {
  return el("div", { class: "problems" }, el("h3", {}, "Dead letters for this value"),
    el("ul", {}, letters.map((letter) => el("li", {},
      el("a", { href: "#/dead-letters" }, `${letter.lane} DLQ`), `: ${letter.code} ${letter.field || ""} ${letter.reason || ""}`))));
}

async function showMessage(view, id, stack) {
  clearTimeout(refresh);
  const current = claim();
  const message = await api(`messages/${encodeURIComponent(id)}`);
  if (!current()) return;
  const tabs = stack.outbox ? tabbed([
    ["html", "HTML", () => emailFrame(message.html, "desktop")],
    ["text", "Text", () => el("pre", { class: "text", "data-testid": "text-part" }, message.text)],
    ["source", "HTML source", () => sourceView(message.html, null, "html-source")],
    ["headers", "Headers and tags", () => el("pre", { class: "json", "data-testid": "tags" },
      JSON.stringify({ headers: message.headers, tags: message.tags }, null, 2))],
  ], "html", "message-tabs") : el("p", { class: "muted" }, "A deployed stack keeps no copy of the email: its status record follows.");
  const fields = [["SES message id", message.id], ["Template", message.template], ["Lane", message.lane],
    ["Source", message.source], ["Event id", message.event_id], ["Idempotency key hash", message.key_hash],
    ["Correlation id", message.correlation_id], ["Sent at", message.sent_at]];
  fill(view,
    el("p", {}, el("a", { href: "#/messages" }, "← all messages")),
    el("h2", { "data-testid": "message-subject" }, message.subject || message.id),
    message.rendering_failure ? el("p", { class: "error-box" }, `SES could not render it: ${message.rendering_failure}`) : null,
    el("dl", { class: "fields", "data-testid": "message-fields" },
      fields.filter(([, value]) => value).map(([name, value]) => [el("dt", {}, name), el("dd", {}, value)])),
    el("h3", {}, "Recipients"), el("p", {}, statusBadges(message.recipients)),
    el("h3", {}, "Delivery timeline"), timeline(message.timeline), tabs);
  const done = message.recipients.length && message.recipients.every((r) => FINAL.has(r.status) || r.status === "delivered");
  if (!done) {
    refresh = setTimeout(() => { if (current()) showMessage(view, id, stack).catch(() => {}); }, REFRESH_MS);
  }
}

function timeline(steps) {
  return el("ol", { class: "timeline", "data-testid": "timeline" }, steps.map((step) => el("li", {
    class: `status-${step.status}`, "data-testid": "timeline-step", "data-status": step.status,
  }, el("strong", {}, step.status), " ", step.at || "", step.recipient ? ` — ${step.recipient}` : "",
     Object.keys(step.details || {}).length
       ? el("span", { class: "muted" }, ` (${Object.entries(step.details).map(([k, v]) => `${k} ${v}`).join(", ")})`) : null)));
}
