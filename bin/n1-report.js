#!/usr/bin/env node
// Runs the bundled CLI (rolldown.config.mjs); `npm ci` builds dist/ through the prepare script.
import { existsSync } from 'node:fs';
if (!existsSync(new URL('../dist/bundle/n1-report.js', import.meta.url))) {
  console.error('n1-report: dist/ is missing; run `npm run build` (npm ci does it through prepare)');
  process.exit(2);
}
await import('../dist/bundle/n1-report.js');
