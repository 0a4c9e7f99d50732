import { execFileSync } from 'node:child_process';

/**
 * Placeholders `{{ expression }}` (spec/config.md §7), resolved once after merging.
 * An expression is operands joined by `||`; an operand is a quoted literal, a reference
 * (`env.X`, `paths.X`, `workspace.X`, `infra.name`, `now.X`, `git.X`, any config key) or
 * `kms.decrypt("…")`, which stays opaque: decryption happens later, at use (§8).
 */

export interface InterpolationError { key: string; placeholder: string; message: string; hint?: string }

export interface InterpolationContext {
  env: Record<string, string | undefined>;
  infra?: string;
  /** the repository that holds the workspace, for git.* */
  gitDir?: string;
  now: Date;
  /** may `key` hold kms.decrypt()? */
  isSecret(key: string): boolean;
  /** computed keys absent because there is no workspace (paths.state, workspace.path …) */
  needsWorkspace(key: string): boolean;
}

export interface InterpolationResult {
  values: Map<string, unknown>;
  errors: InterpolationError[];
  /** keys left out because they depend on workspace data and no workspace is selected */
  unresolved: Map<string, string>;
}

const NAMESPACES = 'env.*, paths.*, workspace.*, infra.*, now.*, git.*, kms.decrypt(), <config key>';

/** A placeholder occurrence: `start..end` in the string, `expr` between the braces. */
interface Occurrence { start: number; end: number; expr: string }

/** Find `{{ … }}`; `}}` inside a quoted literal does not close it; a lone `}}` is literal. */
export function scan(s: string): Occurrence[] | string {
  const out: Occurrence[] = [];
  let i = 0;
  while ((i = s.indexOf('{{', i)) !== -1) {
    let j = i + 2;
    let quote: string | undefined;
    for (; j < s.length; j++) {
      const ch = s[j]!;
      if (quote) {
        if (ch === '\\' && quote === '"') j++;
        else if (ch === quote) quote = undefined;
      } else if (ch === '"' || ch === "'") quote = ch;
      else if (ch === '}' && s[j + 1] === '}') break;
    }
    if (j >= s.length) return `unclosed placeholder starting at \`${s.slice(i, i + 20)}\``;
    out.push({ start: i, end: j + 2, expr: s.slice(i + 2, j) });
    i = j + 2;
  }
  return out;
}

type Operand = { kind: 'literal'; value: string } | { kind: 'ref'; path: string } | { kind: 'kms'; arg: string };

export function parseExpression(expr: string): Operand[] | string {
  const parts: string[] = [];
  let cur = '';
  let quote: string | undefined;
  for (let i = 0; i < expr.length; i++) {
    const ch = expr[i]!;
    if (quote) {
      cur += ch;
      if (ch === '\\' && quote === '"') cur += expr[++i] ?? '';
      else if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === "'") { quote = ch; cur += ch; }
    else if (ch === '|' && expr[i + 1] === '|') { parts.push(cur); cur = ''; i++; }
    else cur += ch;
  }
  parts.push(cur);
  const ops: Operand[] = [];
  for (const raw of parts.map((p) => p.trim())) {
    if (raw === '') return 'empty operand';
    const lit = literal(raw);
    if (lit !== undefined) { ops.push({ kind: 'literal', value: lit }); continue; }
    const kms = /^kms\.decrypt\(\s*("(?:[^"\\]|\\.)*"|'[^']*')\s*\)$/.exec(raw);
    if (kms) { ops.push({ kind: 'kms', arg: literal(kms[1]!)! }); continue; }
    if (/^[A-Za-z_][\w-]*(\.[\w-]+)*$/.test(raw)) { ops.push({ kind: 'ref', path: raw }); continue; }
    return `\`${raw}\` is not a reference or a quoted literal (there are no functions, arithmetic or conditionals)`;
  }
  return ops;
}

function literal(raw: string): string | undefined {
  if (raw.length >= 2 && raw.startsWith("'") && raw.endsWith("'")) return raw.slice(1, -1);
  if (raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"')) {
    try { return JSON.parse(raw) as string; } catch { return undefined; }
  }
  return undefined;
}

class Fail extends Error {
  constructor(message: string, readonly hint?: string, readonly placeholder?: string) { super(message); }
}
/** Thrown through the resolution of a key whose value needs workspace data that is absent. */
class NeedsWorkspace extends Error {}

function git(dir: string | undefined, args: string[]): string | undefined {
  if (!dir) return undefined;
  try {
    return execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
  } catch {
    return undefined;
  }
}

export function interpolate(input: Map<string, unknown>, ctx: InterpolationContext): InterpolationResult {
  const done = new Map<string, unknown>();
  const errors: InterpolationError[] = [];
  const unresolved = new Map<string, string>();
  const failed = new Set<string>();
  const unresolvedCause = new Map<string, string>();
  const stack: string[] = [];
  const gitCache = new Map<string, string | undefined>();
  let inRepo: boolean | undefined;

  const gitValue = (what: string): string | undefined => {
    if (!gitCache.has(what)) {
      inRepo ??= git(ctx.gitDir, ['rev-parse', '--is-inside-work-tree']) === 'true';
      if (!inRepo) throw new Fail(`git.${what}: ${ctx.gitDir ? `${ctx.gitDir} is not inside a git repository` : 'there is no workspace, so no repository'}`, 'use a fallback such as `{{ git.commit || "unknown" }}`');
      const v = what === 'branch' ? git(ctx.gitDir, ['rev-parse', '--abbrev-ref', 'HEAD'])
        : what === 'commit' ? git(ctx.gitDir, ['rev-parse', '--short=12', 'HEAD'])
          : git(ctx.gitDir, ['describe', '--tags', '--exact-match', 'HEAD']);
      gitCache.set(what, v || undefined);
    }
    return gitCache.get(what);
  };

  const iso = ctx.now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const NOW: Record<string, string | number> = { date: iso.slice(0, 10), time: iso.slice(11, 19), iso, timestamp: Math.floor(ctx.now.getTime() / 1000) };

  /** A subtree of the merged keys (`{{orchestrator.queue}}`), or undefined. */
  const subtree = (path: string): Record<string, unknown> | undefined => {
    const prefix = `${path}.`;
    const keys = [...input.keys()].filter((k) => k.startsWith(prefix));
    if (keys.length === 0) return undefined;
    const out: Record<string, unknown> = {};
    for (const k of keys) out[k.slice(prefix.length)] = resolveKey(k);
    return out;
  };

  /** The value of a reference: `{ found: false }` when unset (the next operand is tried). */
  const lookup = (path: string): { found: boolean; value?: unknown; typed?: boolean } => {
    const [ns, ...rest] = path.split('.');
    const name = rest.join('.');
    if (ns === 'env' && rest.length >= 1) {
      const v = ctx.env[name];
      return v === undefined || v === '' ? { found: false } : { found: true, value: v };
    }
    if (ns === 'now') {
      if (!(name in NOW)) throw new Fail(`unknown key \`now.${name}\``, 'now.* is date, time, iso or timestamp');
      return { found: true, value: NOW[name] };
    }
    if (ns === 'git') {
      if (!['branch', 'commit', 'tag'].includes(name)) throw new Fail(`unknown key \`git.${name}\``, 'git.* is branch, commit or tag');
      const v = gitValue(name);
      return v === undefined ? { found: false } : { found: true, value: v };
    }
    if (ns === 'infra') {
      if (name !== 'name') throw new Fail(`unknown key \`infra.${name}\``, 'infra.* is infra.name');
      return ctx.infra ? { found: true, value: ctx.infra } : { found: false };
    }
    if (input.has(path)) return { found: true, value: resolveKey(path), typed: true };
    if (ctx.needsWorkspace(path)) throw new NeedsWorkspace(path);
    const sub = subtree(path);
    if (sub) return { found: true, value: sub, typed: true };
    throw new Fail(`unknown reference \`${path}\``, `placeholders name one of: ${NAMESPACES}`);
  };

  const describeUnset = (op: Operand): string => {
    if (op.kind !== 'ref') return 'empty';
    if (op.path.startsWith('env.')) return `environment variable ${op.path.slice(4)} is not set`;
    if (op.path === 'infra.name') return 'no infra is selected';
    if (op.path === 'git.tag') return 'HEAD has no exact tag';
    return `\`${op.path}\` is not set`;
  };

  const withPlaceholder = <T>(placeholder: string, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof Fail && !e.placeholder) throw new Fail(`${placeholder}: ${e.message}`, e.hint, placeholder);
      throw e;
    }
  };

  const resolveString = (key: string, s: string): unknown => {
    const occ = scan(s);
    if (typeof occ === 'string') throw new Fail(occ);
    if (occ.length === 0) return s;
    const lone = occ.length === 1 && occ[0]!.start === 0 && occ[0]!.end === s.length;
    let out = '';
    let last = 0;
    for (const o of occ) {
      const ops = parseExpression(o.expr);
      const placeholder = s.slice(o.start, o.end);
      if (typeof ops === 'string') throw new Fail(`${placeholder}: ${ops}`, undefined, placeholder);
      out += s.slice(last, o.start);
      last = o.end;
      if (ops.some((op) => op.kind === 'kms')) {
        if (!ctx.isSecret(key)) throw new Fail(`${placeholder}: kms.decrypt() is only allowed in secret keys, and \`${key}\` is not one`, 'keep secrets in keys of secret type (passwords, tokens, storage.url)', placeholder);
        out += placeholder; // stays encrypted until a component needs the plaintext (§8)
        continue;
      }
      let hit: { value: unknown; typed?: boolean } | undefined;
      for (const op of ops) {
        const r = op.kind === 'literal' ? { found: op.value !== '', value: op.value } : withPlaceholder(placeholder, () => lookup((op as { path: string }).path));
        if (r.found && r.value !== '') { hit = { value: r.value, typed: 'typed' in r && r.typed }; break; }
        if (op === ops[ops.length - 1]) {
          if (r.found || op.kind === 'literal') { hit = { value: r.value ?? '' }; break; }
          throw new Fail(`${placeholder}: ${describeUnset(op)}`, ops.length === 1 ? `set it, or add a fallback: {{ ${o.expr.trim()} || "default" }}` : undefined, placeholder);
        }
      }
      if (lone && hit!.typed) return hit!.value;
      const v = hit!.value;
      if (v !== null && typeof v === 'object') throw new Fail(`${placeholder}: names a ${Array.isArray(v) ? 'list' : 'table'}, which cannot be part of a longer string`, undefined, placeholder);
      out += String(v);
    }
    return out + s.slice(last);
  };

  const resolveValue = (key: string, v: unknown): unknown => {
    if (typeof v === 'string') return resolveString(key, v);
    if (Array.isArray(v)) return v.map((x) => resolveValue(key, x));
    return v;
  };

  function resolveKey(key: string): unknown {
    if (done.has(key)) return done.get(key);
    if (unresolved.has(key)) throw new NeedsWorkspace(unresolvedCause.get(key));
    if (failed.has(key)) throw new Fail(`\`${key}\` has an error of its own`);
    const at = stack.indexOf(key);
    if (at !== -1) throw new Fail(`reference cycle: ${[...stack.slice(at), key].join(' → ')}`);
    stack.push(key);
    try {
      const v = resolveValue(key, input.get(key));
      done.set(key, v);
      return v;
    } finally {
      stack.pop();
    }
  }

  for (const [key, raw] of input) {
    if (done.has(key) || failed.has(key) || unresolved.has(key)) continue;
    try {
      resolveKey(key);
    } catch (e) {
      if (e instanceof NeedsWorkspace) { unresolved.set(key, `depends on ${e.message}, which needs a workspace`); unresolvedCause.set(key, e.message); continue; }
      if (!(e instanceof Fail)) throw e;
      failed.add(key);
      const first = typeof raw === 'string' ? raw : JSON.stringify(raw);
      errors.push({ key, placeholder: e.placeholder ?? (first.match(/\{\{.*?\}\}/s) ?? [first])[0], message: e.message, hint: e.hint });
    }
  }
  return { values: done, errors, unresolved };
}
