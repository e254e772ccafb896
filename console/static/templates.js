// The templates view: every template and version, one sample rendered at a time (HTML, text, HTML
// source, the SES request), desktop or mobile width, the check's problems next to file and line,
// and a test send through the pipeline. Everything is fetched again on each visit: an edited
// file or sample shows on reload.

import { api, claim, currentStack, el, emailFrame, fill, showError, sourceView, tabbed } from "./ui.js";

const WIDTHS = [["desktop", "Desktop (640 px)"], ["mobile", "Mobile (375 px)"]];
const state = { width: "desktop", tab: "html", mark: null };

export async function showTemplates(view, parts, query) {
  const current = claim();
  const [listing, stack] = await Promise.all([api("templates"), currentStack()]);
  if (!current()) return;  // the operator went elsewhere meanwhile
  const versions = listing.templates.flatMap((t) => t.versions.map((v) => ({ name: t.name, ...v })));
  const chosen = versions.find((v) => v.name === parts[0] && v.version === parts[1]) || versions[0];
  const aside = el("aside", { class: "list", "data-testid": "template-list" },
    el("h2", { title: listing.folder }, "Templates"),
    listing.templates.map((template) => el("div", { class: "template" },
      el("h3", {}, template.name),
      template.versions.map((version) => el("a", {
        href: `#/templates/${encodeURIComponent(template.name)}/${encodeURIComponent(version.version)}`,
        class: chosen && chosen.name === template.name && chosen.version === version.version ? "item active" : "item",
        "data-testid": `template-${template.name}-${version.version}`,
      }, version.version, " ", counts(version))))));
  const section = el("section", { class: "detail", "data-testid": "template-detail" });
  fill(view, el("div", { class: "split" }, aside, section));
  if (!chosen) {
    section.append(el("p", {}, `No template versions under ${listing.folder}: add <name>/<version>/ with `,
                      "subject.txt, body.html, body.txt and samples/*.json."));
    return;
  }
  await showVersion(section, chosen, query, stack, current);
}

function counts(version) {
  return el("span", { class: "counts" },
    version.errors ? el("span", { class: "badge error" }, `${version.errors} error${version.errors > 1 ? "s" : ""}`) : null,
    version.warnings ? el("span", { class: "badge warning" }, `${version.warnings} warning${version.warnings > 1 ? "s" : ""}`) : null,
    !version.errors && !version.warnings ? el("span", { class: "badge ok" }, "ok") : null);
}

async function showVersion(section, chosen, query, stack, current) {
  const base = `templates/${encodeURIComponent(chosen.name)}/${encodeURIComponent(chosen.version)}`;
  const version = await api(base);
  if (!current()) return;
  const sample = query.get("sample") || version.samples[0];
  const head = el("div", { class: "head" },
    el("h2", { "data-testid": "version-title" }, `${chosen.name} ${chosen.version}`), counts(version));
  section.replaceChildren(head);
  if (!sample) {
    section.append(el("p", { class: "warning-box" }, "No samples: add samples/<name>.json (the templateData an event ",
                      "sends) beside the parts to see it rendered."), problemsPanel(version, null, () => {}));
    return;
  }
  const samples = el("div", { class: "choices", "data-testid": "samples" }, "Sample: ",
    version.samples.map((name) => el("a", {
      href: `#/${base}?sample=${encodeURIComponent(name)}`, class: name === sample ? "choice active" : "choice",
      "data-testid": `sample-${name}`,
    }, name)));
  section.append(samples);
  let preview;
  try {
    preview = await api(`${base}/preview?sample=${encodeURIComponent(sample)}`);
  } catch (error) {
    if (!current()) return;
    showError(error.message);
    section.append(problemsPanel(version, sample, () => {}));
    return;
  }
  if (!current()) return;
  const body = el("div", { class: "preview" });
  const redraw = () => body.replaceChildren(previewBody(preview, version, sample, redraw));
  redraw();
  section.append(body, sendForm(chosen, sample, stack));
}

function previewBody(preview, version, sample, redraw) {
  const rendered = preview.rendered;
  const widths = el("div", { class: "choices", "data-testid": "widths" }, "Width: ",
    WIDTHS.map(([key, label]) => el("button", {
      type: "button", class: state.width === key ? "choice active" : "choice", "data-testid": `width-${key}`,
      onclick: () => { state.width = key; redraw(); },
    }, label)));
  const notes = [
    rendered.renderer === "ses" ? el("p", { class: "muted" }, `Rendered by SES (TestRenderEmailTemplate on ${preview.deployed_name}).`)
      : el("p", { class: "muted" }, `Rendered from the files on disk, as handlebars.js renders them (deployed as ${preview.deployed_name}).`),
    preview.changed_since_start ? el("p", { class: "warning-box", "data-testid": "changed-since-start" },
      "This version is not what the running stack sends (it is new, or changed since make console started): a test send renders what the stack started with; restart make console to deploy this one.") : null,
    laneCheck(preview),
    rendered.failure ? el("p", { class: "error-box", "data-testid": "rendering-failure" },
      `SES would accept this send and render nothing: ${rendered.failure}`) : null,
  ];
  const tabs = tabbed([
    ["html", "HTML", () => rendered.failure ? el("p", { class: "muted" }, "Nothing rendered.") : emailFrame(rendered.html, state.width)],
    ["text", "Text", () => el("pre", { class: "text", "data-testid": "text-part" }, rendered.text)],
    ["source", "HTML source", () => sourceView(rendered.html, null, "html-source")],
    ["request", "SES request", () => preview.ses_request
      ? el("pre", { class: "json", "data-testid": "ses-request" }, JSON.stringify(preview.ses_request, null, 2))
      : el("p", { class: "muted", "data-testid": "ses-request" }, "The lane would not send this event (see above): no request.")],
    ["data", "Data", () => el("div", {},
      el("h4", {}, `samples/${sample}`), el("pre", { class: "json" }, JSON.stringify(preview.data, null, 2)),
      el("h4", {}, "The test event"), el("pre", { class: "json", "data-testid": "test-event" }, JSON.stringify(preview.event, null, 2)))],
    ["files", "Template files", () => el("div", { "data-testid": "files" },
      Object.entries(version.files).map(([part, text]) => el("div", { class: "file" },
        el("h4", {}, version.where[part]), sourceView(text, state.mark && state.mark.part === part ? state.mark.line : null,
                                                      `file-${part}`))))],
  ], state.tab, "preview-tabs");
  tabs.querySelector(".tabs").addEventListener("click", (event) => {
    if (event.target.dataset.tab) state.tab = event.target.dataset.tab;
  });
  return el("div", {}, notes,
    el("p", { class: "subject" }, el("span", { class: "muted" }, "Subject: "),
       el("strong", { "data-testid": "subject" }, rendered.subject)),
    widths, tabs,
    problemsPanel(version, sample, (problem) => { state.tab = "files"; state.mark = problem; redraw(); }));
}

function laneCheck(preview) {
  const check = preview.lane_check;
  if (check.sends) {
    return el("p", { class: "ok-box", "data-testid": "lane-check" },
      `The ${preview.lane} lane would send this (the SES request tab shows the call).`);
  }
  return el("p", { class: "error-box", "data-testid": "lane-check" },
    `The ${preview.lane} lane would dead-letter this event: ${check.code} ${check.field}: ${check.reason}`);
}

function problemsPanel(version, sample, show) {
  const panel = el("div", { class: "problems", "data-testid": "problems" },
    el("h3", {}, "Check (email-pipeline templates check)"));
  if (!version.problems.length) {
    panel.append(el("p", { class: "muted" }, "No problems: every name is provided by the samples, every link is absolute https."));
    return panel;
  }
  panel.append(el("ul", {}, version.problems.map((problem) => el("li", {
    class: `problem ${problem.severity}${problem.samples.includes(sample) ? " this-sample" : ""}`,
    "data-testid": "problem", "data-rule": problem.rule,
  },
    el("a", { href: "#", onclick: (event) => { event.preventDefault(); show(problem); } },
       `${problem.file}:${problem.line}:${problem.column}`),
    " ", el("span", { class: `badge ${problem.severity}` }, problem.severity), " ", problem.message,
    problem.samples.includes(sample) ? el("span", { class: "badge sample" }, "this sample") : null))));
  return panel;
}

function sendForm(chosen, sample, stack) {
  const recipient = el("input", { list: "recipients", value: stack.default_recipient, size: 40,
                                  "data-testid": "send-recipient", "aria-label": "recipient" });
  const options = el("datalist", { id: "recipients" },
    stack.simulator_addresses.map((address) => el("option", { value: address })));
  const allowed = stack.recipient_allowlist && stack.recipient_allowlist.length
    ? `or an address the stack's allowlist takes (${stack.recipient_allowlist.join(", ")})`
    : "(this stack has no allowlist: the mailbox simulator only)";
  const confirm = stack.mode === "deployed" ? el("input", {
    placeholder: `type ${stack.stack} to confirm`, size: 30, "data-testid": "send-confirm", "aria-label": "confirmation" })
    : null;
  const result = el("p", { class: "result", "data-testid": "send-result" });
  const button = el("button", { type: "button", "data-testid": "send-button", onclick: async () => {
    button.disabled = true;
    result.textContent = "Sending…";
    try {
      const sent = await api("send-test", { template: chosen.name, version: chosen.version, sample,
                                            recipient: recipient.value, confirm: confirm ? confirm.value : undefined });
      fill(result, `Event ${sent.event_id} is on ${sent.bus}. `,
        el("a", { href: `#/messages?key=${encodeURIComponent(sent.idempotency_key)}`, "data-testid": "follow-test" },
           "Follow it in the message log"));
    } catch (error) {
      result.textContent = error.message;
    } finally {
      button.disabled = false;
    }
  } }, "Send test");
  return el("form", { class: "send", "data-testid": "send-test", onsubmit: (event) => event.preventDefault() },
    el("h3", {}, "Send a test through the pipeline"),
    el("p", { class: "muted" }, `An event on the stack's bus with samples/${sample} as its templateData, to a mailbox `,
       `simulator address (success@ delivers, bounce@ bounces, complaint@ complains) ${allowed}.`),
    options, recipient, " ", confirm, " ", button, result);
}
