/** The --from query flags: --start/--end in every epoch unit and ISO 8601, --since, and one-line errors. */
import { describe, expect, it, test } from 'vitest';
import { CliError } from './errors.js';
import { Command } from 'commander';
import { connection } from '../otlp/pull/index.js';
import { addPullOptions, checkPullFlags, parseTime, pullQuery } from './pull-options.js';
import { reportCommand } from './report.js';

const NS = 1_760_000_000_123_456_789n;
const MS = Number(NS / 1_000_000n);

function error(f: () => unknown): CliError {
  try {
    f();
  } catch (e) {
    return e as CliError;
  }
  throw new Error('expected an error');
}

describe('--start/--end', () => {
  test('an epoch is read in the unit its digit count tells: s (≤10), ms (11–13), µs (14–16, Jaeger URLs), ns (17–19, Grafana/Tempo)', () => {
    expect(parseTime('--start', '1760000000')).toBe(1_760_000_000_000);
    expect(parseTime('--start', String(MS))).toBe(MS);
    expect(parseTime('--start', String(NS / 1000n))).toBe(MS);
    expect(parseTime('--start', String(NS))).toBe(MS);
    // Odd lengths: 11–12 digits are ms of 1970–2001, 14–15 µs, 17–18 ns; leading zeros and a + do not count.
    expect(parseTime('--start', '99999999999')).toBe(99_999_999_999);
    expect(parseTime('--start', '123456789012345')).toBe(123_456_789_012);
    expect(parseTime('--start', '12345678901234567')).toBe(12_345_678_901);
    expect(parseTime('--start', '0001760000000')).toBe(1_760_000_000_000);
    expect(parseTime('--start', '+1760000000')).toBe(1_760_000_000_000);
    expect(parseTime('--start', ' 2026-12-01T09:00:00Z ')).toBe(Date.parse('2026-12-01T09:00:00Z'));
  });

  test('sub-millisecond epochs round down for --start and up for --end, so the window keeps its traces', () => {
    expect(parseTime('--start', String(NS), 'down')).toBe(MS);
    expect(parseTime('--end', String(NS), 'up')).toBe(MS + 1);
    expect(parseTime('--end', String(NS / 1000n), 'up')).toBe(MS + 1);
    expect(parseTime('--end', String(BigInt(MS) * 1_000_000n), 'up')).toBe(MS);
    expect(pullQuery({ start: String(NS - 10n ** 10n), end: String(NS), limit: 10 })).toEqual({ startMs: MS - 10_000, endMs: MS + 1, limit: 10 });
  });

  test('a negative epoch, more than 19 digits or not a time at all is one CliError line', () => {
    for (const [text, message] of [
      ['-1760000000', '--start "-1760000000" is before 1970'],
      ['17600000001234567890', '--start "17600000001234567890" has 20 digits, more than an epoch in nanoseconds (19)'],
      ['yesterday', '--start "yesterday" is not a time'],
      ['+275760-09-13T00:00:00.001Z', 'is not a time'],
    ] as const) {
      const e = error(() => parseTime('--start', text));
      expect(e).toBeInstanceOf(CliError);
      expect(e.message).toContain(message);
      expect(e.message).not.toContain('\n');
    }
    expect(parseTime('--start', '-0')).toBe(0);
  });

  test('--since longer than since 1970 is all of it, a window a Date can print', () => {
    const q = pullQuery({ since: '14000000w', limit: 10 }, 1_760_000_000_000);
    expect(q.startMs).toBe(0);
    expect(new Date(q.startMs).toISOString()).toBe('1970-01-01T00:00:00.000Z');
  });
});

describe('pullQuery', () => {
  it('reads --start and --end without a zone as UTC, as the web UI reads from= and since=', () => {
    const saved = process.env.TZ;
    process.env.TZ = 'Asia/Kolkata';
    try {
      const q = pullQuery({ start: '2026-12-01T09:00', end: '2026-12-01T10:30:00', limit: 10 });
      expect([q.startMs, q.endMs]).toEqual([Date.UTC(2026, 11, 1, 9), Date.UTC(2026, 11, 1, 10, 30)]);
      expect(pullQuery({ start: '2026-12-01T09:00+05:30', end: '1796115600', limit: 10 }).startMs).toBe(Date.UTC(2026, 11, 1, 3, 30));
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });

  it('refuses a time it cannot read', () => {
    expect(() => pullQuery({ start: '2026-02-31T09:00', limit: 10 })).toThrow(/--start "2026-02-31T09:00" is not a time/);
  });
});

describe('--limit', () => {
  const limitOf = (value: string): unknown => {
    const command = addPullOptions(new Command().exitOverride().configureOutput({ writeErr: () => undefined }), { service: true });
    command.parse(['--limit', value], { from: 'user' });
    return command.opts().limit;
  };

  it('is a whole number ≥ 1 written in decimal, as every other number flag is', () => {
    expect(limitOf('250')).toBe(250);
    for (const bad of ['0', '', ' ', '0x10', '1e3', '2.5']) expect(() => limitOf(bad), JSON.stringify(bad)).toThrow(/--limit must be a whole number ≥ 1/);
  });
});

describe('--from and its flags', () => {
  it('refuses --limit without --from, as --start, --end and --header are: it would change nothing', () => {
    const opts = (args: string[]) => {
      const command = reportCommand().exitOverride();
      command.parseOptions(args);
      return command.opts<{ limit?: number }>();
    };
    expect(() => checkPullFlags(opts(['--limit', '50']), ['traces.jsonl'])).toThrow(/^--limit applies to --from$/);
    // Its default is applied by the query, not the parser, so a run without it is no misuse.
    expect(() => checkPullFlags(opts([]), ['traces.jsonl'])).not.toThrow();
    expect(pullQuery({ ...opts([]), since: '1h' }).limit).toBe(1000);
    expect(pullQuery({ ...opts(['--limit', '50']), since: '1h' }).limit).toBe(50);
  });

  it('says how to write a --from given as host:port without a scheme', () => {
    for (const from of ['localhost:16686', '127.0.0.1:16686', 'jaeger:16686/jaeger', 'tempo', '[::1]:3200']) {
      expect(() => connection(from, []), from).toThrow(`--from ${JSON.stringify(from)} has no scheme: use http://${from} (or https://)`);
    }
    expect(() => connection('ftp://jaeger:21', [])).toThrow('--from must be an http(s) URL, not ftp:');
    expect(connection('http://localhost:16686', []).base.href).toBe('http://localhost:16686/');
  });
});
