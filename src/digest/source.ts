/** Gathers what a digest reports: from the store (a window and the equal one before it) or from trace-file rollups, filtered to one service. */
import type { EndpointRollup } from '../detect/rollup.js';
import { applyAcknowledgements } from '../report/acknowledge.js';
import { buildReport, type Report, type ReportOptions } from '../report/model.js';
import type { Store } from '../store/store.js';
import { formatDuration, storePeriods, type Period } from '../report/period.js';
import type { DigestMarks } from './schedule.js';

/** Everything the Block Kit builder needs besides presentation options. */
export interface DigestInput {
  report: Report;
  /** The equal-length period before `period`, from the store: figures gain a change. Absent for trace files. */
  previous?: Report;
  period: DigestPeriod;
  /** The service the report was filtered to (--service); otherwise the report's own services are named. */
  service?: string;
  /** A pull (--from) that left traces or searches out after retries: the digest covers part of the period and says so. */
  partial?: { failed: number };
}

export interface DigestPeriod extends Period {
  /** `24h`: a rolling store window, read as "last 24h" and compared with the one before. */
  window?: string;
  /** Where the data came from when it is not the store, e.g. the trace file names. */
  source?: string;
  /** Pulled from a trace store (--from): the period is the window searched, not the traces' own span. */
  pulled?: boolean;
}

/** Report options a digest passes through (schema for exact names, detector thresholds). */
export type DigestReportOptions = Omit<ReportOptions, 'endpoint'>;

export interface StoreDigestOptions extends DigestReportOptions {
  /** Length of the window in ms (see parseDuration); rounded up to whole minutes, or hours past 24h (see storePeriods). */
  windowMs: number;
  /** Only this service's endpoints. */
  service?: string;
  /** Endpoint glob, as in the report. */
  endpoint?: string;
  /** Clock, for tests and for a scheduler that wants the window to end at its tick. Default Date.now(). */
  nowMs?: number;
}

const byService = (service: string | undefined) => (r: EndpointRollup): boolean => service === undefined || r.service === service;

/**
 * The last window of stored data, up to the current minute, and the one before it (see storePeriods).
 *
 * @example await digestFromStore(await openStore('n1lens.db'), { windowMs: parseDuration('24h'), service: 'recruit' })
 */
export async function digestFromStore(store: Pick<Store, 'rollups'> & Partial<Pick<Store, 'connections' | 'acknowledgements' | 'queriesOutsideRequests'>>, options: StoreDigestOptions): Promise<DigestInput> {
  const { windowMs, service, endpoint, nowMs, ...reportOptions } = options;
  const now = nowMs ?? Date.now();
  const { current, previous } = storePeriods(windowMs, now);
  // Findings acknowledged or ignored in the web UI stay out of the digest until their expiry.
  const acks = (await store.acknowledgements?.()) ?? [];
  const report = async (p: Period): Promise<Report> =>
    applyAcknowledgements(
      buildReport(
        (await store.rollups({ ...p, ...(endpoint === undefined ? {} : { endpoint }) })).filter(byService(service)),
        {
          ...(store.connections === undefined ? {} : { connections: (await store.connections(p)).filter((c) => service === undefined || c.service === service) }),
          ...(store.queriesOutsideRequests === undefined ? {} : { queriesOutsideRequests: await store.queriesOutsideRequests({ ...p, ...(service === undefined ? {} : { service }) }) }),
          ...reportOptions,
          ...(endpoint === undefined ? {} : { endpoint }),
        },
      ),
      acks,
      now,
    );
  return {
    report: await report(current),
    previous: await report(previous),
    period: { ...current, window: formatDuration(previous.untilMs - previous.sinceMs) },
    ...(service === undefined ? {} : { service }),
  };
}

/** digestFromStore's window and clock for a scheduled digest's period (schedule.ts digestPeriod): exactly that period. */
export function periodWindow(period: Period): Pick<StoreDigestOptions, 'windowMs' | 'nowMs'> {
  return { windowMs: period.untilMs - period.sinceMs, nowMs: period.untilMs };
}

/**
 * The scheduled digest's marks (schedule.ts) in the store: where the last one's period ended, kept
 * across restarts and shared by the instances on one PostgreSQL, which then post each period once.
 * One mark per service digested (serve's --service).
 *
 * @example startDigestSchedule({ every: '24h', marks: storeDigestMarks(store, 'recruit'), post })
 */
export function storeDigestMarks(store: Pick<Store, 'mark' | 'moveMark'>, service?: string): DigestMarks {
  const name = `digest_until:${service ?? '*'}`;
  return { read: () => store.mark(name), move: (from, to) => store.moveMark(name, from, to) };
}

/**
 * Rollups read from trace files: the period is what the traces span, and there is nothing to compare with.
 *
 * @example digestFromRollups(rollups.values(), { source: 'traces.jsonl.gz' })
 */
export function digestFromRollups(
  rollups: Iterable<EndpointRollup>,
  options: DigestReportOptions & { service?: string; endpoint?: string; source?: string } = {},
): DigestInput {
  const { service, source, connections, ...reportOptions } = options;
  const kept = [...rollups].filter(byService(service));
  const report = buildReport(kept, {
    ...reportOptions,
    ...(connections === undefined ? {} : { connections: [...connections].filter((c) => service === undefined || c.service === service) }),
  });
  const shown = new Set(report.endpoints.map((e) => `${e.service}\u0000${e.endpoint}`));
  let sinceMs = Infinity;
  let untilMs = -Infinity;
  for (const r of kept) {
    if (!shown.has(`${r.service}\u0000${r.endpoint}`)) continue;
    sinceMs = Math.min(sinceMs, r.firstSeenMs);
    untilMs = Math.max(untilMs, r.lastSeenMs);
  }
  return {
    report,
    period: { sinceMs, untilMs, ...(source === undefined ? {} : { source }) },
    ...(service === undefined ? {} : { service }),
  };
}
