import pc from 'picocolors';
import { formatLocation, type ProvError } from '../errors/index.js';
import type { OutputFormat, Result, View } from './context.js';

/**
 * Renderers for spec/cli.md §6: `table` for people, `text` for grep/awk, `json`/`yaml`
 * for machines. Only the dispatcher writes results; handlers return data and a view.
 */

export interface RenderOptions {
  format: OutputFormat;
  color: boolean;
  /** terminal width for truncation; undefined = never truncate */
  width?: number;
}

type Colors = ReturnType<typeof pc.createColors>;
export const colors = (enabled: boolean): Colors => pc.createColors(enabled);

export async function renderResult(result: Result, opts: RenderOptions): Promise<string> {
  switch (opts.format) {
    case 'json':
      return JSON.stringify(result.data ?? null, null, result.ndjson ? undefined : 2) + '\n';
    case 'yaml': {
      const { stringify } = await import('yaml');
      return stringify(result.data ?? null);
    }
    case 'toml': {
      const { stringify } = await import('smol-toml');
      return stringify(result.data as Record<string, unknown>) + '\n';
    }
    case 'text':
      return renderText(result.view ?? viewOf(result.data));
    default:
      return renderHuman(result.view ?? viewOf(result.data), opts);
  }
}

/** A view for data that came without one: lists of records become tables, records key/value blocks. */
export function viewOf(data: unknown): View {
  if (data === undefined || data === null) return { kind: 'text', text: '' };
  if (typeof data !== 'object') return { kind: 'text', text: String(data) };
  if (Array.isArray(data)) {
    if (data.every((r) => r && typeof r === 'object' && !Array.isArray(r))) {
      const columns = [...new Set(data.flatMap((r) => Object.keys(r as object)))];
      return { kind: 'table', columns, rows: data.map((r) => columns.map((c) => (r as Record<string, unknown>)[c])) };
    }
    return { kind: 'text', text: data.map(cell).join('\n') };
  }
  return { kind: 'kv', entries: flatten(data as Record<string, unknown>) };
}

/** Nested records as dotted keys: `orchestrator.queue.retries`. */
export function flatten(obj: Record<string, unknown>, prefix = ''): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date) && Object.keys(v).length > 0) out.push(...flatten(v as Record<string, unknown>, key));
    else out.push([key, v]);
  }
  return out;
}

export function cell(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(cell).join(', ');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function renderText(view: View): string {
  if (view.kind === 'text') return view.text ? view.text.replace(/\n?$/, '\n') : '';
  const rows = view.kind === 'table' ? view.rows : view.entries;
  return rows.map((r) => r.map((c) => cell(c).replace(/[\t\n]/g, ' ')).join('\t')).join('\n') + (rows.length ? '\n' : '');
}

const visibleLength = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '').length; // eslint-disable-line no-control-regex

function fit(s: string, width: number): string {
  const len = visibleLength(s);
  if (len <= width) return s + ' '.repeat(width - len);
  return s.slice(0, Math.max(0, width - 1)) + '…';
}

function renderHuman(view: View, opts: RenderOptions): string {
  const c = colors(opts.color);
  if (view.kind === 'text') return view.text ? view.text.replace(/\n?$/, '\n') : '';
  if (view.kind === 'kv') {
    if (view.entries.length === 0) return '';
    const w = Math.max(...view.entries.map(([k]) => k.length));
    return view.entries.map(([k, v]) => `${c.bold(k.padEnd(w))}  ${cell(v)}`).join('\n') + '\n';
  }
  const { columns, rows } = view;
  if (rows.length === 0) return c.dim('(none)') + '\n';
  const text = rows.map((r) => columns.map((_, i) => cell(r[i])));
  let widths = columns.map((h, i) => Math.max(h.length, ...text.map((r) => visibleLength(r[i]!))));
  if (opts.width) widths = shrink(widths, columns.map((h) => h.length), opts.width);
  const line = (cells: string[]) => cells.map((s, i) => (i === cells.length - 1 ? (visibleLength(s) > widths[i]! ? fit(s, widths[i]!) : s) : fit(s, widths[i]!))).join('  ').trimEnd();
  return [c.bold(line(columns.map((h) => h.toUpperCase()))), ...text.map(line)].join('\n') + '\n';
}

/** Shrink the widest columns until the table fits the terminal (headers stay readable). */
function shrink(widths: number[], mins: number[], total: number): number[] {
  const w = [...widths];
  const sum = () => w.reduce((a, b) => a + b, 0) + 2 * (w.length - 1);
  while (sum() > total) {
    let i = w.indexOf(Math.max(...w));
    if (w[i]! <= Math.max(mins[i]!, 8)) {
      const candidates = w.map((x, j) => (x > Math.max(mins[j]!, 8) ? j : -1)).filter((j) => j >= 0);
      if (candidates.length === 0) break;
      i = candidates[0]!;
    }
    w[i] = w[i]! - 1;
  }
  return w;
}

/** The human error form of spec/cli.md §6.5: what failed, where, what to try. */
export function renderErrorHuman(err: ProvError, opts: { color: boolean; debug: boolean }): string {
  const c = colors(opts.color);
  const lines = [`${c.red('✗')} ${c.bold(err.message)}`];
  const where = formatLocation(err.location);
  if (where) lines.push(`  at:    ${where}`);
  for (const [k, v] of Object.entries(err.details)) {
    if (k === 'errors' || k === 'warnings' || v === undefined) continue;
    if (k === 'output_tail' && Array.isArray(v)) lines.push(`  output:`, ...v.map((l) => `    ${String(l)}`));
    else lines.push(`  ${(k + ':').padEnd(6)} ${cell(v)}`);
  }
  if (err.hint) lines.push(`  ${c.cyan('try:')}   ${err.hint}`);
  if (opts.debug && err.stack) lines.push('', c.dim(err.stack));
  if (opts.debug && err.cause instanceof Error && err.cause.stack) lines.push(c.dim(`caused by: ${err.cause.stack}`));
  return lines.join('\n') + '\n';
}
