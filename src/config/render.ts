import type { ProvError } from '../errors/index.js';

/**
 * The human form of CONFIG_INVALID (spec/config.md §10):
 *
 *   error[CONFIG_UNKNOWN_KEY]: unknown key `max_concurent_tasks` in [orchestrator.queue]
 *     --> config/prod.toml:7:1
 *      = expected one of: max_concurrent_tasks, retries, …
 *      = help: did you mean `max_concurrent_tasks`?
 *   2 errors, 0 warnings in 6 layers
 *
 * DEFINITION_INVALID uses the same shape (models.md §1.4), so this renders both.
 */

interface Item {
  code?: string; message?: string; file?: string; line?: number; column?: number;
  variable?: string; flag?: string; layer?: string; expected?: string; hint?: string;
}

function where(p: Item): string | undefined {
  if (p.file) return [p.file, p.line, p.column].filter((x) => x !== undefined).join(':');
  if (p.variable) return `envvar ${p.variable}`;
  if (p.flag) return `cli ${p.flag}`;
  return p.layer ? `${p.layer} layer` : undefined;
}

function block(kind: 'error' | 'warning', p: Item): string[] {
  const lines = [`${kind}[${p.code ?? 'UNKNOWN'}]: ${p.message ?? ''}`];
  const at = where(p);
  if (at) lines.push(`  --> ${at}`);
  if (p.expected) lines.push(`   = expected ${p.expected}`);
  if (p.hint) lines.push(...p.hint.split('\n').map((h, i) => (i === 0 ? `   = help: ${h}` : `           ${h}`)));
  return lines;
}

export function renderConfigErrors(err: ProvError): string {
  const errors = (err.details.errors as Item[] | undefined) ?? [];
  const warnings = (err.details.warnings as Item[] | undefined) ?? [];
  const layers = err.details.layers as number | undefined;
  const lines = [...errors.flatMap((p) => block('error', p)), ...warnings.flatMap((p) => block('warning', p))];
  const n = (k: number, w: string) => `${k} ${w}${k === 1 ? '' : 's'}`;
  const total = typeof err.details.total === 'number' ? err.details.total : errors.length;
  lines.push(`${n(total, 'error')}, ${n(warnings.length, 'warning')}${layers !== undefined ? ` in ${n(layers, 'layer')}` : ''}`);
  if (err.hint) lines.push(`try: ${err.hint}`);
  return lines.join('\n') + '\n';
}

/** Warnings on their own (successful loads), in the same shape. */
export function renderWarnings(warnings: Item[]): string {
  return warnings.flatMap((w) => block('warning', w)).join('\n') + (warnings.length ? '\n' : '');
}
