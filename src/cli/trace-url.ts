/** The `--trace-url` flag's check, shared by serve, digest and n1-report. */
import { CliError } from './errors.js';

/** `--trace-url` must be an http(s) URL with `{traceId}` in it (digest and serve). */
export function checkTraceUrl(template: string): void {
  if (!template.includes('{traceId}')) throw new CliError('--trace-url must contain {traceId}, e.g. https://jaeger.example.com/trace/{traceId}');
  let ok = false;
  try {
    ok = /^https?:$/.test(new URL(template.split('{traceId}').join('0')).protocol);
  } catch {
    ok = false;
  }
  if (!ok) throw new CliError('--trace-url must be an http(s) URL with {traceId}, e.g. https://jaeger.example.com/trace/{traceId}');
}
