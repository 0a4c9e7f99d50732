import { dropUndefined } from '../errors/index.js';

/** One finding of §10, as it appears in `details.errors` of CONFIG_INVALID. */
export interface Problem {
  code: string;
  message: string;
  severity: 'error' | 'warning';
  /** the layer label: `workspace`, `env:prod`, `envvar`, … */
  layer: string;
  file?: string;
  line?: number;
  column?: number;
  variable?: string;
  flag?: string;
  /** the dotted key */
  path?: string;
  expected?: string;
  actual?: unknown;
  hint?: string;
}

export const LAYER_ORDER = ['default', 'mode', 'computed', 'system', 'user', 'workspace', 'env', 'infra', 'local', 'envvar', 'cli'];

const rank = (label: string) => {
  const i = LAYER_ORDER.indexOf(label.split(':')[0]!);
  return i === -1 ? LAYER_ORDER.length : i;
};

export const MAX_PROBLEMS = 50;

/** Sorted by layer, then line; at most 50; in the JSON shape of §10. */
export function collectProblems(problems: Problem[]): Record<string, unknown>[] {
  return [...problems]
    .sort((a, b) => rank(a.layer) - rank(b.layer) || (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0))
    .slice(0, MAX_PROBLEMS)
    .map(({ severity: _severity, ...p }) => dropUndefined({ ...p }));
}
