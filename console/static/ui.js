// What every view of the console's page uses: the API client, safe element building, tabs,
// the sandboxed email frame, numbered sources, the current route.

let stack = null;
let drawing = 0;

/**
 * Claim the page for one drawing (a view, its refresh, or an operator's action a refresh would undo).
 * Returns `current()`: true until something newer claims the page. A view checks it after every
 * answer it awaits and draws nothing once it is false, so a slow answer never replaces what came
 * after it (another view, an event being read, a redrive's result).
 */
export function claim() {
  const mine = ++drawing;
  return () => mine === drawing;
}

/** GET or POST the console's API; an answer that is not 2xx throws its one-line error. */
export async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const response = await fetch(`/api/${path}`, init);
  const answer = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
  if (!response.ok) {
    throw new Error(answer.error || `${response.status} ${response.statusText}`);
  }
  return answer;
}

/** An element with attributes and children (strings become text nodes, never HTML). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replace a node's children (arrays flattened, null and false left out, strings as text). */
export function fill(node, ...children) {
  node.replaceChildren(...children.flat(Infinity).filter((child) => child !== null && child !== undefined && child !== false));
  return node;
}

/** Show one line of error above the view (or clear it). */
export function showError(message) {
  const box = document.getElementById("error");
  box.textContent = message || "";
  box.hidden = !message;
}

/** A row of tab buttons over panels; `tabs` is [[key, label, () => Node]]. Returns the element. */
export function tabbed(tabs, initial, testid) {
  const bar = el("div", { class: "tabs", role: "tablist", "data-testid": testid });
  const panel = el("div", { class: "tab-panel", "data-testid": `${testid}-panel` });
  const choose = (key) => {
    for (const button of bar.children) button.setAttribute("aria-selected", String(button.dataset.tab === key));
    const [, , draw] = tabs.find(([name]) => name === key) || tabs[0];
    panel.replaceChildren(draw());
  };
  for (const [key, label] of tabs) {
    bar.append(el("button", { type: "button", role: "tab", "data-tab": key, "data-testid": `tab-${key}`,
                              onclick: () => choose(key) }, label));
  }
  choose(initial || tabs[0][0]);
  return el("div", { class: "tabbed" }, bar, panel);
}

/** An email's HTML in a frame that runs nothing (sandbox without allow-scripts) at a chosen width. */
export function emailFrame(html, width) {
  const frame = el("iframe", { sandbox: "", title: "the email's HTML part", "data-testid": "html-frame",
                               referrerpolicy: "no-referrer" });
  frame.srcdoc = html;
  return el("div", { class: `frame-box width-${width}`, "data-testid": "frame-box", "data-width": width }, frame);
}

/** Source text with line numbers; `mark` highlights one line (a problem's). */
export function sourceView(text, mark, testid = "source") {
  const lines = text.split("\n");
  return el("pre", { class: "source", "data-testid": testid },
    lines.map((line, index) => el("span", {
      class: index + 1 === mark ? "line marked" : "line", "data-line": index + 1,
    }, el("span", { class: "number" }, String(index + 1)), line, "\n")));
}

/** The stack (GET /api/stack), fetched once. */
export async function currentStack() {
  stack = stack || await api("stack");
  return stack;
}

/** `#/messages?q=x` -> ["messages"], {q: "x"}. */
export function route() {
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  return { parts: path ? path.split("/").map(decodeURIComponent) : [], query: new URLSearchParams(query || "") };
}
