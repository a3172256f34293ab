#!/usr/bin/env node
'use strict';
/**
 * Runs one of Subledger's command-line tools (`npm run verify`, `replay`, `rebuild`, `projector`,
 * `eventstore`): from its TypeScript source through ts-node in a checkout, where `src/` is, so a tool
 * never runs stale compiled code; from `dist/` where there is no source, as in the service's image,
 * whose dev tools (ts-node among them) are pruned.
 *
 * Usage: node bin/tool.js <path under src/ without .ts> [tool arguments…]
 */
const fs = require('node:fs');
const path = require('node:path');

const [tool, ...args] = process.argv.slice(2);
if (!tool || !/^[a-z0-9/.-]+$/.test(tool)) {
  process.stderr.write('usage: node bin/tool.js <tool path under src/, e.g. audit/verify.cli> [arguments…]\n');
  process.exit(1);
}
const root = path.resolve(__dirname, '..');
const source = path.join(root, 'src', `${tool}.ts`);
const compiled = path.join(root, 'dist', `${tool}.js`);
const fromSource = fs.existsSync(source);
const entry = fromSource ? source : compiled;
if (!fromSource && !fs.existsSync(compiled)) {
  process.stderr.write(`no tool ${tool}: neither ${source} nor ${compiled} exists (npm run build makes dist/)\n`);
  process.exit(1);
}
// The tool reads its own arguments from process.argv, as if it had been started directly.
process.argv = [process.argv[0], entry, ...args];
if (fromSource) {
  require('ts-node').register({ transpileOnly: true, project: path.join(root, 'tsconfig.json') });
}
require(entry);
