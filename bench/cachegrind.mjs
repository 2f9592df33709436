/** Reads a cachegrind output file: the instructions of each function cg_annotate names, for the bench scripts that count them. */
import { spawnSync } from 'node:child_process';

/** Every function line of `cg_annotate --threshold=0 <outFile>`: its instructions and its name (the file and function, as cg_annotate prints them). */
export function annotatedFunctions(outFile) {
  const text = spawnSync('cg_annotate', ['--threshold=0', outFile], { encoding: 'utf8', maxBuffer: 1 << 28 }).stdout;
  const rows = [];
  for (const line of text.split('\n')) {
    const m = /^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$/.exec(line);
    if (m !== null && !m[2].startsWith('PROGRAM TOTALS')) rows.push({ ir: Number(m[1].replaceAll(',', '')), fn: m[2] });
  }
  return rows;
}
