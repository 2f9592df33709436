/** Parses the periods users type (`24h`, `7d`, `90m`, or an ISO date) into milliseconds. */

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `24h` -> 86400000. Throws on anything else. */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$/i.exec(text);
  if (m === null) throw new Error(`invalid duration "${text}": use a number and a unit, e.g. 90m, 24h, 7d`);
  return Number(m[1]) * (UNIT_MS[m[2]!.toLowerCase()] ?? 0);
}

/** `--since 24h` means 24 hours before now; an ISO date or epoch ms is taken as is. */
export function parseSince(text: string, nowMs: number): number {
  if (/^\d{10,}$/.test(text)) return Number(text);
  if (/^\d/.test(text) && /[-T:]/.test(text)) {
    const t = Date.parse(text);
    if (Number.isNaN(t)) throw new Error(`invalid date "${text}"`);
    return t;
  }
  return nowMs - parseDuration(text);
}
