#!/usr/bin/env node
// Runs the compiled CLI; `npm ci` builds dist/ through the prepare script.
import { existsSync } from 'node:fs';
if (!existsSync(new URL('../dist/cli/n1-report.js', import.meta.url))) {
  console.error('n1-report: dist/ is missing; run `npm run build` (npm ci does it through prepare)');
  process.exit(2);
}
await import('../dist/cli/n1-report.js');
