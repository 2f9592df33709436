/** Server-drawn SVG: sparklines, trend charts and the example request's waterfall. Drawn to scale, readable without JS, each mark titled for hover and screen readers. */
import type { Axis, Bucket, FindingBucket, Waterfall, WaterfallLane } from './data.js';
import { mainTable } from './sql-format.js';
import { int, ms } from '../report/text.js';
import { DAY_MS, HOUR_MS, MINUTE_MS } from '../report/period.js';

const pad = (n: number): string => String(n).padStart(2, '0');

/** A bucket's start in UTC, as precise as the bucket size needs. */
export function bucketLabel(startMs: number, sizeMs: number): string {
  const d = new Date(startMs);
  const day = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  return sizeMs >= DAY_MS ? day : `${day} ${pad(d.getUTCHours())}:${sizeMs >= HOUR_MS ? '00' : pad(d.getUTCMinutes())}`;
}

const sizeLabel = (sizeMs: number): string => (sizeMs >= DAY_MS ? `${sizeMs / DAY_MS}d` : sizeMs >= HOUR_MS ? `${sizeMs / HOUR_MS}h` : `${sizeMs / MINUTE_MS}m`);

const queriesPer = (b: Bucket): number => (b.requests === 0 ? 0 : b.dbSpans / b.requests);
const fixed = (n: number): string => (Math.round(n * 10) / 10).toString();

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
/** Text or an attribute value escaped as hono's JSX escapes it, for markup written as strings. */
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
const attribute = escapeHtml;

/**
 * A sparkline: bars are wasted DB ms per bucket, the line queries per request, each scaled to its
 * own maximum. Markup as one string: the overview draws one per endpoint (a thousand of them), and
 * JSX elements for each bar made most of the page's render time.
 */
export function sparklineSvg(trend: Bucket[], label: string): string {
  const w = 140;
  const h = 34;
  const n = trend.length;
  let maxWasted = 0;
  let maxQueries = 0;
  let total = 0;
  for (const b of trend) {
    maxWasted = Math.max(maxWasted, b.wastedMs);
    maxQueries = Math.max(maxQueries, queriesPer(b));
    total += b.wastedMs;
  }
  const bw = w / n;
  const lines = runs(
    trend.map((b) => ({ value: queriesPer(b), title: '', present: b.requests > 0 })),
    (s, i) => `${fixed(i * bw + bw / 2)},${fixed(h - 2 - (s.value / (maxQueries || 1)) * (h - 6))}`,
  );
  let svg = `<svg class="spark" viewBox="0 0 ${w} ${h}" preserveAspectRatio="none" role="img" aria-label="${attribute(`${label}: ${ms(total)} wasted over ${n} buckets; peak ${fixed(maxQueries)} queries per request`)}">`;
  trend.forEach((b, i) => {
    if (b.wastedMs <= 0) return;
    const height = (b.wastedMs / maxWasted) * (h - 4);
    svg += `<rect class="w" x="${fixed(i * bw + bw * 0.15)}" width="${fixed(Math.max(bw * 0.7, 1))}" y="${fixed(h - height)}" height="${fixed(height)}"></rect>`;
  });
  for (const points of lines) svg += `<polyline class="q" points="${points}" vector-effect="non-scaling-stroke"></polyline>`;
  return `${svg}</svg>`;
}

interface Series {
  value: number;
  title: string;
  /** False for a bucket with no traffic: a line breaks there instead of dropping to 0. */
  present?: boolean;
}

/** Polyline point lists, one per run of buckets that have data. */
function runs(series: Series[], point: (s: Series, i: number) => string): string[] {
  const out: string[][] = [];
  let run: string[] = [];
  series.forEach((s, i) => {
    if (s.present === false) {
      if (run.length > 0) out.push(run);
      run = [];
    } else run.push(point(s, i));
  });
  if (run.length > 0) out.push(run);
  return out.filter((r) => r.length > 1).map((r) => r.join(' '));
}

/**
 * A value axis from 0 to a round top, in steps of 1, 2, 2.5 or 5 × 10^k, at most five of them, so
 * gridlines read as numbers a person would pick; counts step by whole numbers.
 */
export function valueScale(max: number, whole: boolean): { top: number; step: number } {
  if (!(max > 0)) return { top: 1, step: 1 };
  const rough = max / 5;
  const power = 10 ** Math.floor(Math.log10(rough));
  const multiples = whole && power === 1 ? [1, 2, 5, 10] : [1, 2, 2.5, 5, 10];
  let step = power * multiples.find((m) => power * m >= rough * (1 - 1e-9))!;
  if (whole) step = Math.max(1, Math.round(step));
  return { top: Math.ceil(max / step - 1e-9) * step, step };
}

/** A tick's value without float noise (0.30000000000000004 reads 0.3). */
const tickNumber = (n: number): string => String(Number(n.toPrecision(6)));
/** Durations on an axis in one unit for every tick, seconds once the top reaches one. */
const durationTick = (n: number, top: number): string => (n === 0 ? '0' : top >= 1000 ? `${tickNumber(n / 1000)} s` : `${tickNumber(n)} ms`);
const countTick = (n: number): string => tickNumber(n);

/** A labelled bar or line chart over the axis: y from 0 to a round top (valueScale), first and last bucket on x. */
function TimeChart({ axis, series, kind, cls, label, unit, tick, whole = false, w = 560, h = 170 }: { axis: Axis; series: Series[]; kind: 'bar' | 'line'; cls: string; label: string; unit: (n: number) => string; tick: (n: number, top: number) => string; whole?: boolean; w?: number; h?: number }) {
  const left = 52;
  const right = 8;
  const top = 10;
  const bottom = 24;
  const pw = w - left - right;
  const ph = h - top - bottom;
  const peak = Math.max(...series.map((s) => s.value), 0);
  const scale = valueScale(peak, whole);
  const bw = pw / series.length;
  const y = (v: number): number => top + ph - (v / scale.top) * ph;
  const lines = runs(series, (s, i) => `${fixed(left + i * bw + bw / 2)},${fixed(y(s.value))}`);
  const gridlines = Array.from({ length: Math.round(scale.top / scale.step) + 1 }, (_, k) => k * scale.step);
  return (
    <svg class={w > 600 ? 'chart wide' : 'chart'} viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`${label}, ${series.length} buckets of ${sizeLabel(axis.sizeMs)}, peak ${unit(peak)}`}>
      {gridlines.map((v) => (
        <line class="grid" x1={left} x2={w - right} y1={fixed(y(v))} y2={fixed(y(v))} />
      ))}
      {gridlines.map((v) => (
        <text x={left - 6} y={fixed(y(v) + 4)} text-anchor="end">
          {tick(v, scale.top)}
        </text>
      ))}
      <text x={left} y={h - 6}>{bucketLabel(axis.startMs, axis.sizeMs)}</text>
      <text x={w - right} y={h - 6} text-anchor="end">{bucketLabel(axis.startMs + (axis.count - 1) * axis.sizeMs, axis.sizeMs)}</text>
      {kind === 'bar'
        ? series.map((s, i) => (
            <rect class={cls} x={fixed(left + i * bw + bw * 0.12)} width={fixed(Math.max(bw * 0.76, 1))} y={fixed(y(s.value))} height={fixed(top + ph - y(s.value))}>
              <title>{s.title}</title>
            </rect>
          ))
        : [
            ...lines.map((points) => <polyline class={cls} points={points} />),
            ...series.map((s, i) =>
              s.present !== false ? (
                <circle class="dot" cx={fixed(left + i * bw + bw / 2)} cy={fixed(y(s.value))} r="3">
                  <title>{s.title}</title>
                </circle>
              ) : null,
            ),
          ]}
    </svg>
  );
}

/** The endpoint page's two charts: queries per request (mean per bucket) and wasted DB time. */
export function EndpointCharts({ axis, trend }: { axis: Axis; trend: Bucket[] }) {
  const when = (b: Bucket): string => `${bucketLabel(b.startMs, axis.sizeMs)} (${sizeLabel(axis.sizeMs)})`;
  return (
    <div class="grid2">
      <figure class="panel" style="margin:0">
        <figcaption class="small muted">Queries per request (mean per {sizeLabel(axis.sizeMs)})</figcaption>
        <TimeChart
          axis={axis}
          kind="line"
          cls="q"
          label="Queries per request"
          unit={(n) => fixed(n)}
          tick={countTick}
          series={trend.map((b) => ({
            value: queriesPer(b),
            present: b.requests > 0,
            title: `${when(b)}: ${fixed(queriesPer(b))} queries per request over ${int(b.requests)} requests`,
          }))}
        />
      </figure>
      <figure class="panel" style="margin:0">
        <figcaption class="small muted">Wasted DB time per {sizeLabel(axis.sizeMs)}</figcaption>
        <TimeChart
          axis={axis}
          kind="bar"
          cls="w"
          label="Wasted DB time"
          unit={ms}
          tick={durationTick}
          series={trend.map((b) => ({ value: b.wastedMs, title: `${when(b)}: ${ms(b.wastedMs)} wasted in ${int(b.requests)} requests` }))}
        />
      </figure>
    </div>
  );
}

/** The finding page's chart: requests affected per bucket. */
export function FindingChart({ axis, trend }: { axis: Axis; trend: FindingBucket[] }) {
  return (
    <TimeChart
      axis={axis}
      kind="bar"
      cls="a"
      w={1000}
      h={200}
      label="Requests affected"
      unit={(n) => (n < 10 ? fixed(n) : int(n))}
      tick={countTick}
      whole
      series={trend.map((b) => ({
        value: b.requestsAffected,
        title: `${bucketLabel(b.startMs, axis.sizeMs)}: ${int(b.requestsAffected)} requests, ${int(b.executions)} executions, ${ms(b.wastedMs)} wasted`,
      }))}
    />
  );
}

const ROLE_LABEL = { trigger: 'trigger', repeat: 'repeated', other: 'other' } as const;

/** `SELECT recruit_job`: the operation and main table; short statements without a table as they are. */
function laneLabel(lane: WaterfallLane): string {
  if (lane.sql === '') return `query ${lane.fingerprint}`;
  const table = mainTable(lane.sql);
  if (table === '') return lane.sql.length <= 40 ? lane.sql : `${lane.sql.slice(0, 39)}…`;
  // Most lanes are reads: the table alone says it; writes keep their verb.
  const op = /^\s*(\w+)/.exec(lane.sql)?.[1]?.toUpperCase() ?? '';
  return op === 'SELECT' ? table : `${op} ${table}`.trim();
}

/** Tick marks at round milliseconds across the request. */
function ticks(totalMs: number): number[] {
  const steps = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 30000, 60000];
  const step = steps.find((s) => totalMs / s <= 6) ?? 60000;
  const out: number[] = [];
  for (let t = 0; t <= totalMs; t += step) out.push(t);
  return out;
}

/**
 * The example request's DB calls on one time scale, one lane per statement in order of first call:
 * the trigger, the repeated query (every execution a bar) and the others. Lanes are HTML rows so
 * their labels stay readable at any width; each track is an SVG stretched to the row.
 */
export function WaterfallView({ waterfall }: { waterfall: Waterfall }) {
  const total = Math.max(waterfall.totalMs, 0.001);
  const x = (t: number): number => (t / total) * 1000;
  const marks = ticks(total);
  return (
    <div class="wfall" role="group" aria-label={`DB calls of trace ${waterfall.traceId}: ${waterfall.spans} calls over ${ms(total)}`}>
      <div class="wf-row wf-axis" aria-hidden="true">
        <div class="wf-label small muted">{waterfall.spans} DB calls · {ms(total)}</div>
        <div class="wf-ticks">
          {marks.map((t) => (
            <span style={`left:${fixed((t / total) * 100)}%`}>{t === 0 ? '0' : ms(t).replace('.0 ms', ' ms')}</span>
          ))}
        </div>
      </div>
      {waterfall.lanes.map((lane) => {
        const sum = lane.spans.reduce((s, b) => s + b.durationMs, 0);
        return (
          <div class={`wf-row ${lane.role}`} data-role={lane.role} data-fingerprint={lane.fingerprint}>
            <div class="wf-label">
              <span class={`role ${lane.role}`}>{lane.role === 'other' ? '' : `${ROLE_LABEL[lane.role]} `}</span>
              <code title={lane.sql}>{laneLabel(lane)}</code>
              <span class="small muted"> ×{lane.spans.length} · {ms(sum)}</span>
            </div>
            <svg class="wf-track" viewBox="0 0 1000 16" preserveAspectRatio="none" role="img" aria-label={`${laneLabel(lane)}: ${lane.spans.length} calls, ${ms(sum)}`}>
              {marks.map((t) => (
                <line class="grid" x1={fixed(x(t))} x2={fixed(x(t))} y1="0" y2="16" vector-effect="non-scaling-stroke" />
              ))}
              {lane.spans.map((s) => (
                <rect class={`bar ${lane.role}`} x={fixed(x(s.offsetMs))} width={fixed(Math.max(x(s.durationMs), 1.5))} y="2" height="12">
                  <title>{`#${s.index + 1} ${laneLabel(lane)}: ${ms(s.durationMs)} at +${ms(s.offsetMs)}`}</title>
                </rect>
              ))}
            </svg>
          </div>
        );
      })}
    </div>
  );
}
