import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ProvError } from '../errors/index.js';
import { configInvalid, readLayerText, type LoadOptions } from './index.js';
import { checkType, classify, isEncrypted, isSecretKey, parseText } from './keys.js';
import { buildState } from './load.js';
import type { Problem } from './problems.js';
import { TomlSyntaxError, setKeyText, tomlLiteral, unifiedDiff, unsetKeyText } from './toml.js';

/**
 * `config set/unset` and `env switch`: compute the new text of one layer file, validate the
 * whole configuration with it, and only then write. Comments and layout stay as they were.
 */

export interface PlannedEdit {
  file: string;
  before: string;
  after: string;
  diff: string;
}

const signature = (p: Problem) => `${p.code}|${p.layer}|${p.path ?? ''}|${p.variable ?? ''}|${p.message.replace(/:\d+:\d+/g, '')}`;

/** The value text of `config set`, typed by the key (like an environment variable). */
export function typedValue(key: string, text: string): unknown {
  const c = classify(key.split('.'));
  if (c.kind !== 'key') return text;
  const v = parseText(c.spec, text);
  const r = checkType(key, c.spec, v);
  return 'value' in r ? r.value : v; // canonical spelling (`multi-user` → `multiuser`); errors surface in validation

}

export function planEdit(opts: LoadOptions, file: string, path: string[], change: { set: unknown } | { unset: true }): PlannedEdit {
  const before = readLayerText(file) ?? '';
  let after: string | undefined;
  try {
    after = 'set' in change ? setKeyText(before, path, tomlLiteral(change.set)) : unsetKeyText(before, path);
  } catch (e) {
    if (e instanceof TomlSyntaxError) {
      throw new ProvError('CONFIG_INVALID', `${file} does not parse, so it cannot be edited safely`, {
        location: { file, line: e.line, column: e.column }, hint: `fix the syntax first (${e.message}); \`provisioning config edit\` opens it`,
      });
    }
    throw e;
  }
  if (after === undefined) {
    throw new ProvError('NOT_FOUND', `\`${path.join('.')}\` is not set in ${file}`, { hint: '`provisioning config show <key> --origin` shows which layer sets it' });
  }
  // Only problems this edit introduces block it; an already broken layer elsewhere must stay fixable.
  const old = safeProblems(opts);
  const next = buildState({ ...opts, overrides: { [file]: after } });
  const known = new Set(old.map(signature));
  const introduced = next.problems.filter((p) => p.severity === 'error' && !known.has(signature(p)));
  if (introduced.length > 0) throw configInvalid(introduced, [], next.config.layers);
  return { file, before, after, diff: unifiedDiff(file, before, after) };
}

function safeProblems(opts: LoadOptions): Problem[] {
  try {
    return buildState(opts).problems;
  } catch {
    return [];
  }
}

export function applyEdit(edit: PlannedEdit): void {
  mkdirSync(dirname(edit.file), { recursive: true, mode: 0o700 });
  writeFileSync(edit.file, edit.after);
}

/** How a value may be shown (§0: secrets are never printed). */
export function displayValue(key: string, v: unknown): unknown {
  if (isEncrypted(v)) return '<encrypted>';
  if (Array.isArray(v)) return v.map((x) => displayValue(key, x));
  if (!isSecretKey(key) || typeof v !== 'string' || v === '') return v;
  if (URL.canParse(v)) {
    const u = new URL(v);
    if (!u.password) return v;
    u.password = '***';
    return u.toString();
  }
  return '<secret>';
}
