// The console's page: a router over four views, each drawn from the console's own API (/api/...).
// No framework and no build step: ES modules served as they are. Text is always set as text
// (never as HTML); an email's HTML is shown only inside a sandboxed frame with scripts off.

import { showTemplates } from "./templates.js";
import { showMessages } from "./messages.js";
import { showDeadLetters } from "./dead_letters.js";
import { showSuppressions } from "./suppressions.js";
import { route, showError } from "./ui.js";

const views = { "templates": showTemplates, "messages": showMessages, "dead-letters": showDeadLetters,
                "suppressions": showSuppressions };

async function draw() {
  const { parts, query } = route();
  const name = views[parts[0]] ? parts[0] : "templates";
  for (const link of document.querySelectorAll("nav a")) {
    link.classList.toggle("active", link.dataset.nav === name);
  }
  const view = document.getElementById("view");
  showError("");
  try {
    await views[name](view, parts.slice(1), query);
  } catch (error) {
    showError(error.message);
  }
}

window.addEventListener("hashchange", draw);
draw();
