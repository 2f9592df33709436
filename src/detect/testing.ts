/** Test builders: requests from lists of Django SQL statements, shaped as the Django + DB-API instrumentation emits them. */
import type { Request } from '../traces/request.js';

/** One statement, or one statement repeated for each row of a loop. */
export type Step = string | { sql: (row: number) => string; rows: number } | { sql: string; ms: number };

export interface RequestShape {
  traceId?: string;
  startMs?: number;
  /** Outbound calls after the queries: `[durationMs, overlapsPrevious]`. */
  outbound?: [number, boolean][];
  /** The DB spans' db.system (default postgresql). */
  system?: string;
}

/** A request whose DB spans run the given statements in order, 1 ms each unless told. */
export function requestOf(endpoint: string, steps: Step[], shape: RequestShape | string = {}): Request {
  const { traceId = 'f'.repeat(32), startMs = 0, outbound = [], system = 'postgresql' } = typeof shape === 'string' ? { traceId: shape } : shape;
  const dbSpans: Request['dbSpans'] = [];
  let t = startMs + 1;
  const push = (statement: string, ms = 1): void => {
    dbSpans.push({ spanId: (dbSpans.length + 1).toString(16).padStart(16, '0'), startMs: t, durationMs: ms, system, statement });
    t += ms + 0.1;
  };
  for (const step of steps) {
    if (typeof step === 'string') push(step);
    else if ('rows' in step) for (let r = 0; r < step.rows; r++) push(step.sql(r));
    else push(step.sql, step.ms);
  }
  const calls: Request['outbound'] = [];
  let previousStart = t;
  for (const [ms, overlaps] of outbound) {
    const start = overlaps ? previousStart : t;
    calls.push({ spanId: `c${calls.length}`.padStart(16, '0'), name: 'POST', kind: 'http', peer: 'hr.example', startMs: start, durationMs: ms });
    previousStart = start;
    t = Math.max(t, start + ms);
  }
  return { traceId, spanId: 'a'.repeat(16), endpoint, service: 'recruit', startMs, durationMs: t + 1 - startMs, dbSpans, outbound: calls };
}

/** Interleaves per-row statements the way a template loop touching several relations does. */
export function loop(rows: number, ...perRow: ((row: number) => string)[]): Step[] {
  const out: Step[] = [];
  for (let r = 0; r < rows; r++) for (const f of perRow) out.push(f(r));
  return out;
}

export const SESSION =
  'SELECT "django_session"."session_key", "django_session"."session_data", "django_session"."expire_date" FROM "django_session" WHERE ("django_session"."expire_date" > %s AND "django_session"."session_key" = %s) LIMIT 21';
export const AUTH_USER =
  'SELECT "auth_user"."id", "auth_user"."password", "auth_user"."last_login", "auth_user"."is_superuser", "auth_user"."username" FROM "auth_user" WHERE "auth_user"."id" = %s LIMIT 21';
export const APPLICATIONS =
  'SELECT "recruit_application"."id", "recruit_application"."user_id", "recruit_application"."candidate_id", "recruit_application"."job_id", "recruit_application"."status_id", "recruit_application"."created" FROM "recruit_application" WHERE "recruit_application"."user_id" = %s ORDER BY "recruit_application"."created" DESC LIMIT 50';

/** The seed's dashboard row: candidate, job, job.company, status, notes.count, last interview. */
export const DASHBOARD_ROW: ((row: number) => string)[] = [
  (r) => `SELECT "recruit_candidate"."id", "recruit_candidate"."name", "recruit_candidate"."external_id" FROM "recruit_candidate" WHERE "recruit_candidate"."id" = ${r + 1} LIMIT 21`,
  (r) => `SELECT "recruit_job"."id", "recruit_job"."company_id", "recruit_job"."title" FROM "recruit_job" WHERE "recruit_job"."id" = ${r % 7} LIMIT 21`,
  (r) => `SELECT "recruit_company"."id", "recruit_company"."name" FROM "recruit_company" WHERE "recruit_company"."id" = ${r % 3} LIMIT 21`,
  (r) => `SELECT "recruit_status"."id", "recruit_status"."label" FROM "recruit_status" WHERE "recruit_status"."id" = ${r % 4} LIMIT 21`,
  (r) => `SELECT COUNT(*) AS "__count" FROM "recruit_note" WHERE "recruit_note"."application_id" = ${r + 100}`,
  (r) => `SELECT "recruit_interview"."id", "recruit_interview"."application_id", "recruit_interview"."scheduled_at" FROM "recruit_interview" WHERE "recruit_interview"."application_id" = ${r + 100} ORDER BY "recruit_interview"."scheduled_at" DESC LIMIT 1`,
];
