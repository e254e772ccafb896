// Dead letters and unrouted events: per lane the count by FailureCode and each message's field and
// reason; an event's values only when asked for that message; redrive by failure code (the
// operator tool's `dlq redrive`) after a confirmation naming the stack.

import { api, claim, currentStack, el, fill, showError } from "./ui.js";

const REFRESH_MS = 3000;
let refresh = null;

/** The view, read again every few seconds until the operator opens an event or redrives (`notice`: a redrive's answer). */
export async function showDeadLetters(view, _parts, _query, notice) {
  clearTimeout(refresh);
  const current = claim();
  const [found, stack] = await Promise.all([api("dead-letters"), currentStack()]);
  if (!current()) return;  // the operator opened an event or went elsewhere meanwhile: keep what is shown
  fill(view, el("h2", {}, "Dead letters"),
    notice ? el("p", { class: "ok-box", "data-testid": "redrive-result" }, notice) : null,
    el("p", { class: "muted" }, "Read without taking anything from the queues, again every few seconds. Values stay ",
       "hidden unless you open a message's event."),
    Object.entries(found.lanes).map(([lane, letters]) => laneCard(lane, letters, stack, view)),
    found.unrouted ? unroutedCard(found.unrouted) : null);
  // Live until the operator reads something a refresh would take away (an event, a redrive's answer).
  if (!notice) refresh = setTimeout(() => { if (current()) showDeadLetters(view).catch(() => {}); }, REFRESH_MS);
}

/** Stop refreshing: what the operator is about to read stays on the page. */
function hold() {
  clearTimeout(refresh);
  claim();
}

function laneCard(lane, letters, stack, view) {
  const codes = Object.entries(letters.by_code);
  return el("div", { class: "card", "data-testid": `lane-${lane}` },
    el("h3", {}, `${lane}: `, el("span", { "data-testid": `depth-${lane}` }, String(letters.depth)), " dead letter(s)",
       letters.complete ? "" : ` (read ${letters.read})`),
    codes.length ? el("ul", { class: "codes" }, codes.map(([code, count]) => el("li", {},
      el("span", { class: "badge error" }, code), ` ${count} `,
      el("button", { type: "button", "data-testid": `redrive-${lane}-${code}`,
                     onclick: () => redrive(lane, code, count, stack, view) }, `Redrive ${code}`)))) : null,
    letters.messages.length ? el("table", { class: "letters" },
      el("thead", {}, el("tr", {}, ["Message", "Event", "Code", "Field", "Reason", "Failed at", ""].map((h) => el("th", {}, h)))),
      el("tbody", {}, letters.messages.map((letter) => letterRow(lane, letter)))) : null);
}

function letterRow(lane, letter) {
  const shown = el("td", { colspan: 7 });
  const extra = el("tr", { class: "event-row", hidden: true }, shown);
  const row = el("tr", { "data-testid": "dead-letter", "data-code": letter.code },
    el("td", {}, el("code", {}, letter.message_id)), el("td", {}, el("code", {}, letter.event_id || "—")),
    el("td", {}, letter.code), el("td", {}, letter.field || "—"), el("td", {}, letter.reason || "—"),
    el("td", {}, letter.failed_at || "—"),
    el("td", {}, el("button", { type: "button", "data-testid": "show-event", onclick: async () => {
      hold();  // a refresh, even one already on its way, would redraw the row under the answer
      try {
        const full = await api(`dead-letters/${encodeURIComponent(lane)}/${encodeURIComponent(letter.message_id)}?values=true`);
        shown.replaceChildren(el("pre", { class: "json", "data-testid": "dead-letter-event" }, JSON.stringify(full.event, null, 2)));
        extra.hidden = false;
      } catch (error) {
        showError(error.message);
      }
    } }, "Show event (values)")));
  return [row, extra];
}

function unroutedCard(unrouted) {
  return el("div", { class: "card", "data-testid": "unrouted" },
    el("h3", {}, `Unrouted: ${unrouted.depth} event(s)`),
    el("p", { class: "muted" }, "Events of an accepted source and detail-type that no route takes. Once a route does, replay them from the archive (email-pipeline replay)."),
    unrouted.events.length ? el("ul", {}, unrouted.events.map((event) => el("li", {},
      el("code", {}, event.event_id || event.message_id), ` ${event.source} / ${event.detail_type}`))) : null);
}

async function redrive(lane, code, count, stack, view) {
  hold();
  const question = `Move ${count} ${code} dead letter(s) back to the ${lane} lane of ${stack.stack}? ` +
    "The lane sends them again (events already sent are skipped). Type the stack's name to confirm:";
  const typed = window.prompt(question, stack.mode === "local" ? stack.stack : "");
  if (typed === null) return;
  try {
    const moved = await api(`dead-letters/${encodeURIComponent(lane)}/redrive`, { code, confirm: typed });
    await showDeadLetters(view, [], null, moved.text);
  } catch (error) {
    showError(error.message);
  }
}
