// Shared by the benchmarks: machine description, medians, and writing a section of docs/performance.md.
import { cpus, loadavg, totalmem, release } from 'node:os';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export function machine() {
  const c = cpus();
  // The load average says how busy the machine was: medians on a shared 2-core box move with it.
  return `${c.length} × ${c[0]?.model.trim() ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Linux ${release()}, Node.js ${process.version}; load average ${loadavg()[0].toFixed(1)} when the run ended`;
}

/** Replace (or append) the section between `<!-- bench:NAME -->` markers in docs/performance.md. */
export function writeSection(root, name, markdown) {
  const file = join(root, 'docs', 'performance.md');
  const begin = `<!-- bench:${name} -->`;
  const end = `<!-- /bench:${name} -->`;
  const block = `${begin}\n${markdown.trim()}\n${end}`;
  let doc = existsSync(file) ? readFileSync(file, 'utf8') : '# Performance\n\nMeasured with the benchmarks in `bench/`; each section is rewritten by its benchmark.\n';
  const i = doc.indexOf(begin);
  const j = doc.indexOf(end);
  doc = i >= 0 && j > i ? doc.slice(0, i) + block + doc.slice(j + end.length) : `${doc.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, doc);
}
