/**
 * The web UI and the HTML report in a real browser: Debian's Chromium (scripts/chromium.sh installs
 * it) driven by playwright-core, against `n1lens serve` fed the sample recording over OTLP/HTTP.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Report } from '../src/report/model.js';
import { startServer, type RunningServer } from '../src/server/serve.js';
import { loadSchema } from '../src/suggest/schema.js';
import { SAMPLE_SCHEMA, SAMPLE_TRACES } from '../src/ui/testing.js';
import { tempDir, testServeOptions } from './support.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const TRACE_URL = 'https://jaeger.example.invalid/trace/{traceId}';

function chromiumPath(): string {
  const candidates = [process.env.N1LENS_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) throw new Error('Chromium is not installed: run `bash scripts/chromium.sh` (test-all.sh does)');
  return found;
}

let dir: string | undefined;
let server: RunningServer;
let base: string;
let browser: Browser;
let report: Report;

/** Posts every line of the sample recording (one OTLP JSON export each) to the server, as a Collector would. */
async function replaySample(url: string): Promise<void> {
  const lines = gunzipSync(readFileSync(SAMPLE_TRACES)).toString('utf8').split('\n').filter((l) => l.trim() !== '');
  for (const line of lines) {
    const res = await fetch(`${url}/v1/traces`, { method: 'POST', body: line, headers: { 'Content-Type': 'application/json' } });
    if (res.status !== 200) throw new Error(`export refused: ${res.status}`);
  }
}

beforeAll(async () => {
  // The detectors' defaults, as a user's serve runs them.
  dir = mkdtempSync(join(tmpdir(), 'n1lens-browser-'));
  const { detect: _testDetect, ...options } = testServeOptions(dir, {
    traceWaitMs: 1000, // longer than any gap between two exports of one trace on a loaded machine
    maxTraces: 10_000,
    maxBodyBytes: 20 * 1024 * 1024,
    schema: await loadSchema(SAMPLE_SCHEMA),
    traceUrl: TRACE_URL,
  });
  server = await startServer(options);
  base = `http://127.0.0.1:${server.httpPort}`;
  await replaySample(base);
  for (let i = 0; i < 200; i++) {
    await server.intake.tick();
    report = (await (await fetch(`${base}/api/report`)).json()) as Report;
    if (report.summary.requests >= 33) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(report.summary.requests).toBe(33);
  browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** A page that records console errors and every host it requests. */
async function open(context: BrowserContext, url: string): Promise<{ page: Page; errors: string[]; hosts: Set<string> }> {
  const page = await context.newPage();
  const errors: string[] = [];
  const hosts = new Set<string>();
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => hosts.add(new URL(r.url()).host || new URL(r.url()).protocol));
  await page.goto(url);
  return { page, errors, hosts };
}

// In-page expressions are strings: this project compiles without the DOM's types.
/** Whether anything makes the page scroll sideways. */
const overflows = (page: Page): Promise<boolean> => page.evaluate('document.documentElement.scrollWidth > document.documentElement.clientWidth');

/** The endpoints of the overview rows a user can see, in order. */
const visibleRows = (page: Page): Promise<string[]> =>
  page.evaluate(`[...document.querySelectorAll('tr[data-endpoint]')].filter((r) => !r.hidden && r.offsetParent !== null).map((r) => r.getAttribute('data-endpoint'))`);

describe('n1lens serve in a browser', () => {
  it('reaches the job__company finding in two clicks, with its waterfall, fix, trace link, and nothing overflowing', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    const { page, errors, hosts } = await open(context, `${base}/?range=all`);
    expect(await visibleRows(page)).toEqual(report.endpoints.map((e) => e.endpoint));
    expect(await overflows(page)).toBe(false);

    await page.click('a:text-is("GET dashboard/")'); // click 1
    expect(page.url()).toMatch(/\/endpoints\/\d+\?range=all$/);
    expect(await page.locator('article.finding').count()).toBe(6);
    expect(await overflows(page)).toBe(false);

    // The combined fix's copy button copies the seed's queryset, as valid Python.
    await page.locator('pre[id^="fix-"]').scrollIntoViewIfNeeded();
    await page.click('button[data-copy^="fix-"]');
    const copied = await page.evaluate<string>('navigator.clipboard.readText()');
    const flat = copied.replace(/\s+/g, '').replace(/,\)/g, ')'); // the layout's trailing commas
    expect(flat).toContain(".select_related('candidate','job__company','status')");
    expect(flat).toContain(".prefetch_related(Prefetch('interviews',queryset=Interview.objects.order_by('-scheduled_at'),to_attr='recent_interviews')");
    expect(flat).toContain(".annotate(notes_count=Count('notes'))");
    const parsed = spawnSync('python3', ['-c', 'import ast,sys; ast.parse(sys.stdin.read())'], { input: copied });
    expect(parsed.status, parsed.stderr.toString()).toBe(0);

    await page.click('article.finding:has(code:text-is("job__company")) h3 a'); // click 2
    expect(page.url()).toMatch(/\/findings\/\d+\?range=all$/);
    expect(await page.locator('.wf-row.repeat rect.bar.repeat').count()).toBe(50);
    expect(await page.locator('rect.bar.trigger').count()).toBe(1);
    expect(await page.locator('pre[id$="-fix"]').innerText()).toBe(".select_related('job__company')");
    const traceHref = await page.getAttribute('a[data-trace-link]', 'href');
    expect(traceHref).toMatch(/^https:\/\/jaeger\.example\.invalid\/trace\/[0-9a-f]{32}$/);
    expect(await overflows(page)).toBe(false);

    expect(errors).toEqual([]);
    expect([...hosts]).toEqual([new URL(base).host]);
    await context.close();
  });

  it('filters change the list: search as you type, finding kind, service', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const { page, errors } = await open(context, `${base}/?range=all`);
    await page.fill('input[name=q]', 'company');
    expect(await visibleRows(page)).toEqual(['GET dashboard/']);
    await page.fill('input[name=q]', '');
    await page.selectOption('select[name=kind]', 'hot_lookup');
    await Promise.all([page.waitForURL(/kind=hot_lookup/), page.click('form.filters button[type=submit]')]);
    expect(await visibleRows(page)).toEqual(['POST webhooks/ats/']);
    await page.goto(`${base}/?range=all&service=billing`);
    expect(await visibleRows(page)).toEqual([]);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('sorts by a column header with the keyboard, in place', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const { page } = await open(context, `${base}/?range=all`);
    await page.focus('th[data-col=requests] a');
    await page.keyboard.press('Enter');
    expect((await visibleRows(page))[0]).toBe('POST webhooks/ats/');
    expect(page.url()).toContain('sort=requests');
    expect(await page.getAttribute('th[data-col=requests]', 'aria-sort')).toBe('descending');
    await context.close();
  });

  it('fits a 390 px phone in light and dark', async () => {
    for (const colorScheme of ['light', 'dark'] as const) {
      const context = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme, isMobile: true });
      const { page, errors } = await open(context, `${base}/?range=all`);
      expect(await overflows(page)).toBe(false);
      await page.click('a:text-is("GET dashboard/")');
      expect(await overflows(page)).toBe(false);
      await page.click('article.finding:has(code:text-is("job__company")) h3 a');
      expect(await overflows(page)).toBe(false);
      expect(errors).toEqual([]);
      await context.close();
    }
  });

  it('works without JavaScript: links, sorting and filters are plain HTML', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, javaScriptEnabled: false });
    const { page } = await open(context, `${base}/?range=all`);
    await page.click('th[data-col=requests] a');
    expect((await visibleRows(page))[0]).toBe('POST webhooks/ats/');
    await page.click('a:text-is("GET dashboard/")');
    expect(await page.locator('article.finding').count()).toBe(6);
    expect(await page.locator('button[data-copy]:visible').count()).toBe(0);
    await context.close();
  });
});

describe('acknowledging from the finding page', () => {
  it('records the decision, takes the finding out of the overview, and withdraws it', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const { page, errors } = await open(context, `${base}/?range=all`);
    await page.click('a:text-is("GET dashboard/")');
    await page.click('article.finding:has(code:text-is("job__company")) h3 a');
    await page.check('input[name=state][value=acknowledged]');
    await page.fill('input[name=reason]', 'select_related lands in #42');
    await Promise.all([page.waitForURL(/#decision$/), page.click('form.decision button[type=submit]')]);
    expect(await page.locator('#decision + .panel').innerText()).toContain('Acknowledged');
    await page.goto(`${base}/?range=all`);
    expect(await page.locator('tr[data-endpoint="GET dashboard/"] td[data-label=findings]').innerText()).toBe('5');
    await page.goBack();
    await Promise.all([page.waitForURL(/#decision$/), page.click('text=Withdraw')]);
    expect(await page.locator('form.decision').count()).toBe(1);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('n1-report --format html opened from disk', () => {
  it('has the same overview, endpoint and finding views, with no request beyond the file', async () => {
    const out = join(tempDir('html'), 'report.html');
    const run = spawnSync(process.execPath, [join(root, 'bin', 'n1-report.js'), SAMPLE_TRACES, '--schema', SAMPLE_SCHEMA, '--format', `html=${out}`, '--trace-url', TRACE_URL]);
    expect(run.status, run.stderr.toString()).toBe(1); // over budget: the sample has N+1s
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const { page, errors, hosts } = await open(context, `file://${out}`);
    expect(await visibleRows(page)).toEqual(report.endpoints.map((e) => e.endpoint));
    await page.click('a:text-is("GET dashboard/")');
    expect(page.url()).toMatch(/#endpoint-\d+$/);
    const endpoint = page.locator('section.view:target');
    expect(await endpoint.locator('article.finding').count()).toBe(6);
    await endpoint.locator('article.finding:has(code:text-is("job__company")) h3 a').click();
    const finding = page.locator('section.view:target');
    expect(await finding.locator('.wf-row.repeat rect.bar.repeat').count()).toBe(50);
    expect(await finding.locator('a[data-trace-link]').getAttribute('href')).toMatch(/^https:\/\/jaeger\.example\.invalid\/trace\//);
    expect(await overflows(page)).toBe(false);
    expect(errors).toEqual([]);
    expect([...hosts]).toEqual(['file:']);
    await context.close();
  });
});

describe('the README screenshots script', () => {
  it('takes its four screenshots of the UI (scripts/screenshots.mjs, run by scripts/screenshots.sh)', () => {
    const shots = tempDir('shots');
    const run = spawnSync(process.execPath, [join(root, 'scripts', 'screenshots.mjs')], { env: { ...process.env, N1LENS_SHOTS_DIR: shots, N1LENS_CHROMIUM: chromiumPath() }, timeout: 120_000 });
    expect(run.status, run.stderr.toString()).toBe(0);
    for (const name of ['ui-overview.png', 'ui-finding.png', 'ui-endpoint-dark.png', 'ui-finding-mobile.png']) {
      // A PNG's signature, and more than a blank page's bytes.
      const png = readFileSync(join(shots, name));
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      expect(png.length).toBeGreaterThan(20_000);
    }
  });
});
