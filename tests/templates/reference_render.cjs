// Renders template cases with handlebars.js, the reference implementation SES templates follow.
// stdin: a JSON list of {template, data, escape}; stdout: a JSON list of {output} or {error}.
// `escape: false` compiles with `noEscape`, as a template's subject and text parts are rendered.
const Handlebars = require("handlebars");
// `{{log}}` writes through the console: keep stdout for the results.
for (const level of ["log", "info", "debug", "warn"]) console[level] = (...args) => process.stderr.write(`${args.join(" ")}\n`);
let input = "";
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const results = JSON.parse(input).map(({ template, data, escape }) => {
    try {
      const render = Handlebars.create().compile(template, { noEscape: !escape, strict: false });
      return { output: render(data) };
    } catch (error) {
      return { error: String(error.message || error) };
    }
  });
  process.stdout.write(JSON.stringify(results));
});
