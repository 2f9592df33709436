/**
 * Bundles `n1-report` and its `--jobs` worker from tsc's output (dist/) into dist/bundle/: Node 20
 * has no compile cache for ES modules, so resolving, compiling and linking ~100 small modules cost
 * every run ~0.2 s of CPU; one file (plus chunks loaded only when a run needs them) costs a third
 * of it. Native and CommonJS packages stay in node_modules; the bundled ones (zod, commander,
 * smol-toml, picocolors, hono) are dependencies in package.json, installed with their licences.
 */
export default {
  input: { 'n1-report': 'dist/cli/n1-report.js', worker: 'dist/parallel/worker.js' },
  platform: 'node',
  external: ['better-sqlite3', 'pg', 'protobufjs', /^@hono\/node-server/, 'prom-client', '@slack/webhook', 'croner', 'undici'],
  // ASCII only (non-ASCII escaped, JSDoc dropped, licence comments kept): V8 then holds and scans each
  // file as one-byte text instead of decoding UTF-8 into two-byte text first.
  output: { dir: 'dist/bundle', format: 'esm', cleanDir: true, charset: 'ascii', comments: { legal: true, annotation: true, jsdoc: false } },
};
