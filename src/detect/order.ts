/**
 * The one order for text in reports, baselines, digests and the PostgreSQL store's lock order: by
 * UTF-16 code units, so every machine sorts alike. localeCompare follows the process's locale
 * (LANG), and its first call in a process costs ~4.5 ms loading ICU's collation data.
 */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
