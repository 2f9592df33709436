#!/usr/bin/env node
// Runs the compiled CLI; `npm ci` builds dist/ through the prepare script. `serve` starts on a thread
// of its own (src/cli/serve-thread.ts) unless N1LENS_SERVE_THREAD=0.
import { existsSync } from 'node:fs';
if (!existsSync(new URL('../dist/cli/n1lens.js', import.meta.url))) {
  console.error('n1lens: dist/ is missing; run `npm run build` (npm ci does it through prepare)');
  process.exit(2);
}
if (process.argv[2] === 'serve' && process.env.N1LENS_SERVE_THREAD !== '0') await import('../dist/cli/serve-host.js');
else await import('../dist/cli/n1lens.js');
