import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import { ProvError } from '../../errors/index.js';
import {
  configInvalid, layerFile, layerOfFile, originLabel, type Config, type Leaf, type LoadOptions, type Origin,
} from '../../config/index.js';
import { applyEdit, displayValue, planEdit, typedValue } from '../../config/edit.js';
import { classify, describe, isEncrypted } from '../../config/keys.js';
import { buildState, type State } from '../../config/load.js';
import type { Problem } from '../../config/problems.js';
import type { Problem as DefProblem } from '../../model/index.js';
import { renderWarnings } from '../../config/render.js';
import { KEYS, type KeySpec } from '../../config/schema.js';
import { tomlKey, tomlLiteral } from '../../config/toml.js';
import { loadOptionsFor } from '../config-options.js';
import type { Handler, Invocation, Result } from '../context.js';

/** `config …` and `validate config|all` (spec/cli.md §12.1, §12.3; spec/config.md §9–10). */

/** Load options from the invocation, for commands that must see a broken config (set, sources, validate). */
export function loadOptions(inv: Invocation, extra: Partial<LoadOptions> = {}): LoadOptions {
  return loadOptionsFor(inv.globals, inv.io, extra);
}

export function showWarnings(inv: Invocation, warnings: Problem[] | Config['warnings']): void {
  if (warnings.length) inv.io.stderr.write(renderWarnings(warnings as Problem[]));
}

const rel = (file: string | undefined, cfg: Config) => (file && cfg.target.workspace && !relative(cfg.target.workspace.path, file).startsWith('..') ? relative(cfg.target.workspace.path, file) : file);

function source(o: Origin, cfg: Config): string {
  if (o.file) return `${rel(o.file, cfg)}${o.line ? `:${o.line}` : ''}`;
  return o.variable ?? o.flag ?? '';
}

const leafJson = (l: Leaf) => ({
  key: l.key, value: displayValue(l.key, l.value), origin: l.origin,
  overridden: l.history.slice(0, -1).map((h) => ({ layer: originLabel(h.origin), file: h.origin.file, line: h.origin.line, value: displayValue(l.key, h.value) })),
});

/** Unknown keys are a usage error with a hint; known-but-unset keys are NOT_FOUND (exit 5). */
function missingKey(key: string, cfg: Config): ProvError {
  const c = classify(key.split('.'));
  if (c.kind === 'unknown') {
    return new ProvError('INVALID_ARGUMENT', `unknown configuration key \`${key}\``, {
      hint: c.suggestion ? `did you mean \`${c.suggestion}\`?` : `sections: ${[...new Set(Object.keys(KEYS).map((k) => k.split('.')[0]))].join(', ')}`,
    });
  }
  const why = cfg.unresolved[key];
  return new ProvError('NOT_FOUND', `\`${key}\` is not set${why ? `: it ${why}` : ''}`, { hint: why ? 'run inside a workspace, or pass --workspace <name>' : `\`provisioning config set ${key} <value>\` sets it` });
}

function selectLeaves(all: Leaf[], key: string | undefined): Leaf[] {
  if (!key) return all;
  return all.filter((l) => l.key === key || l.key.startsWith(`${key}.`));
}

function nest(leaves: Leaf[], strip = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const l of leaves) {
    const parts = (strip ? l.key.slice(strip.length + 1) : l.key).split('.');
    let node = out;
    for (const p of parts.slice(0, -1)) node = (node[p] ??= {}) as Record<string, unknown>;
    node[parts[parts.length - 1]!] = displayValue(l.key, l.value);
  }
  return out;
}

export const show: Handler = async (inv) => {
  const key = inv.args.key as string | undefined;
  const scope = inv.flags.scope as string | undefined;
  const cfg = await inv.config();
  const leaves = selectLeaves(scope ? cfg.layerLeaves(scope) : cfg.leaves(), key);
  if (leaves.length === 0) {
    if (scope && key) throw new ProvError('NOT_FOUND', `\`${key}\` is not set in the ${scope} layer`, { hint: `\`provisioning config show ${key} --origin\` shows which layers set it` });
    if (key) throw missingKey(key, cfg);
  }
  const single = key !== undefined && leaves.length === 1 && leaves[0]!.key === key ? leaves[0]! : undefined;
  if (inv.flags.origin === true) {
    if (single) {
      const w = Math.max(...single.history.map((h) => originLabel(h.origin).length));
      const vals = single.history.map((h) => JSON.stringify(displayValue(single.key, h.value)));
      const vw = Math.max(...vals.map((v) => v.length));
      const text = single.history.map((h, i) => {
        const wins = i === single.history.length - 1 ? '← wins' : '';
        return [originLabel(h.origin).padEnd(w), vals[i]!.padEnd(vw), source(h.origin, cfg), wins].filter((x, j) => j < 2 || x).join('   ').trimEnd();
      }).join('\n');
      return { data: leafJson(single), view: { kind: 'text', text } };
    }
    return {
      data: leaves.map(leafJson),
      view: { kind: 'table', columns: ['key', 'value', 'origin', 'source'], rows: leaves.map((l) => [l.key, displayValue(l.key, l.value), originLabel(l.origin), source(l.origin, cfg)]) },
    };
  }
  if (single) return { data: { key: single.key, value: displayValue(single.key, single.value) }, view: { kind: 'kv', entries: [[single.key, displayValue(single.key, single.value)]] } };
  return { data: key ? nest(leaves, key) : nest(leaves), view: { kind: 'kv', entries: leaves.map((l) => [l.key, displayValue(l.key, l.value)]) } };
};

export const get: Handler = async (inv) => {
  const key = inv.args.key as string;
  const cfg = await inv.config();
  const v = cfg.get(key);
  if (v === undefined) throw missingKey(key, cfg);
  const shown = v !== null && typeof v === 'object' && !Array.isArray(v) ? nest(selectLeaves(cfg.leaves(), key), key) : displayValue(key, v);
  return { data: shown, view: { kind: 'text', text: typeof shown === 'string' ? shown : JSON.stringify(shown) } };
};

function editResult(inv: Invocation, edit: { file: string; diff: string }, summary: string, data: Record<string, unknown>): Result {
  if (inv.globals.check) {
    return { data: { ...data, file: edit.file, diff: edit.diff, changed: edit.diff !== '', applied: false }, view: { kind: 'text', text: `would write ${edit.file}\n${edit.diff || '(no change)\n'}` } };
  }
  return { data: { ...data, file: edit.file, changed: edit.diff !== '', applied: true }, view: { kind: 'text', text: `${summary} (${edit.file})` } };
}

/** The state for commands that write: the target, without failing on problems a change may fix. */
function stateOf(inv: Invocation): State {
  return buildState(loadOptions(inv));
}

export const set: Handler = async (inv) => {
  const key = inv.args.key as string;
  const scope = (inv.flags.scope as string | undefined) ?? 'workspace';
  const state = stateOf(inv);
  const file = layerFile(scope, state.config.dirs, state.config.target);
  const value = typedValue(key, inv.args.value as string);
  const edit = planEdit(loadOptions(inv), file, key.split('.'), { set: value });
  if (!inv.globals.check) applyEdit(edit);
  return editResult(inv, edit, `set ${key} = ${tomlLiteral(displayValue(key, value))} in the ${scope} layer`, { key, value: displayValue(key, value), scope });
};

export const unset: Handler = async (inv) => {
  const key = inv.args.key as string;
  const scope = (inv.flags.scope as string | undefined) ?? 'workspace';
  const state = stateOf(inv);
  const file = layerFile(scope, state.config.dirs, state.config.target);
  const edit = planEdit(loadOptions(inv), file, key.split('.'), { unset: true });
  if (!inv.globals.check) applyEdit(edit);
  return editResult(inv, edit, `removed ${key} from the ${scope} layer`, { key, scope });
};

export const edit: Handler = async (inv) => {
  const scope = (inv.flags.scope as string | undefined) ?? 'workspace';
  const state = stateOf(inv);
  const file = layerFile(scope, state.config.dirs, state.config.target);
  if (inv.globals.check) return validateResult(inv, state, false);
  if (inv.nonInteractive) {
    throw new ProvError('USAGE', '`config edit` opens an editor and needs an interactive terminal', { hint: `use \`provisioning config set <key> <value> --scope ${scope}\`, or edit ${file} and run \`provisioning validate config\`` });
  }
  const editor = (state.config.get('preferences.editor') as string | undefined) || inv.io.env.EDITOR || 'vi';
  // Edit a copy; the real file changes only once the copy validates.
  const dir = mkdtempSync(join(tmpdir(), 'prov-edit-'));
  const copy = join(dir, basename(file));
  try {
    if (existsSync(file)) copyFileSync(file, copy);
    for (;;) {
      const r = spawnSync(editor, [copy], { stdio: 'inherit', shell: false });
      if (r.error) throw new ProvError('OPERATION_FAILED', `could not start the editor '${editor}': ${r.error.message}`, { hint: 'set EDITOR or preferences.editor' });
      const text = existsSync(copy) ? readFileSync(copy, 'utf8') : '';
      const next = buildState(loadOptions(inv, { overrides: { [file]: text } }));
      const errors = next.problems.filter((p) => p.severity === 'error');
      if (errors.length === 0) {
        const edit = { file, before: '', after: text, diff: '' };
        applyEdit(edit);
        return { data: { file, valid: true }, view: { kind: 'text', text: `saved ${file}` } };
      }
      const { renderConfigErrors } = await import('../../config/render.js');
      inv.io.stderr.write(renderConfigErrors(configInvalid(errors, [], next.config.layers)));
      await inv.confirm('The file has errors and was not saved. Reopen the editor?');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

export const sources: Handler = async (inv) => {
  const state = stateOf(inv);
  const layers = state.config.layers;
  const envvars = Object.keys(inv.io.env).filter((k) => k.startsWith('PROVISIONING_') && k.includes('__'));
  return {
    data: layers.map((l, i) => ({ order: i + 1, layer: l.label, file: l.file ?? null, exists: l.exists, values: l.values })),
    view: {
      kind: 'table', columns: ['#', 'layer', 'source', 'exists', 'values'],
      rows: layers.map((l, i) => [i + 1, l.label, l.file ?? (l.layer === 'system' ? 'none (PROVISIONING_HOME hides it; PROVISIONING_SYSTEM_CONFIG names one)' : l.layer === 'envvar' ? (envvars.join(', ') || 'PROVISIONING_*') : l.layer === 'cli' ? 'global flags, --set' : 'built in'), l.exists ? 'yes' : 'no', l.values]),
    },
  };
};

export const paths: Handler = async (inv) => {
  const { config: cfg } = stateOf(inv);
  const ws = cfg.target.workspace;
  const data: Record<string, unknown> = {
    config_home: cfg.dirs.configHome, data_home: cfg.dirs.dataHome, cache_home: cfg.dirs.cacheHome,
    system_file: cfg.dirs.systemFile ?? null,
    workspace: ws?.path ?? null, state: ws ? join(ws.path, '.provisioning') : null,
    logs: cfg.get('paths.logs') ?? null,
    files: cfg.layers.filter((l) => l.file && l.exists).map((l) => l.file),
  };
  return { data, view: { kind: 'kv', entries: Object.entries(data).map(([k, v]) => [k, v ?? '-']) } };
};

/** A commented starter file from the key table: every key the layer may set, with its default. */
function starter(layer: 'user' | 'workspace' | 'env', opts: { name?: string; environment?: string }): string {
  const allowedHere = (spec: KeySpec) => !spec.readonly && (layer === 'workspace' ? true : layer === 'user' ? !['workspace-file', 'workspace-defaults'].includes(spec.scope ?? 'all') : (spec.scope ?? 'all') === 'all' || spec.scope === 'no-infra');
  const head = {
    user: '# User configuration of provisioning (layer `user`): applies to every workspace of this user.',
    workspace: '# Workspace configuration (layer `workspace`): committed with the workspace.',
    env: `# Environment overlay \`${opts.environment}\` (layer \`env:${opts.environment}\`): only what differs from provisioning.toml.`,
  }[layer];
  const lines = [head, '# Every key is listed commented out with its default; see docs/configuration.md.', ''];
  if (layer === 'workspace') lines.push('[workspace]', `name = ${JSON.stringify(opts.name ?? 'my-workspace')}`, 'format_version = 1', '');
  let table = '';
  for (const [key, spec] of Object.entries(KEYS)) {
    if (!allowedHere(spec) || (layer === 'workspace' && ['workspace.name', 'workspace.format_version'].includes(key))) continue;
    const parts = key.split('.');
    const t = parts.slice(0, -1).join('.');
    if (t !== table) { lines.push('', `# [${t}]`); table = t; }
    const def = spec.default === undefined ? '""' : tomlLiteral(spec.default);
    lines.push(`# ${tomlKey(parts.slice(-1))} = ${def}   # ${describe(spec)}${spec.note ? `; ${spec.note}` : ''}`);
  }
  return lines.join('\n').replace(/\n{3,}/g, '\n\n') + '\n';
}

export const init: Handler = async (inv) => {
  const environment = (inv.flags.environment as string | undefined) ?? undefined;
  // The environment being created must not be selected (it is not configured yet).
  const state = buildState(loadOptions(inv, { select: { workspace: inv.globals.workspace } }));
  const cfg = state.config;
  const scope = environment ? 'env' : ((inv.flags.scope as string | undefined) ?? (cfg.target.workspace ? 'workspace' : 'user'));
  if (!['user', 'workspace', 'env'].includes(scope)) throw new ProvError('INVALID_ARGUMENT', `config init writes the user or workspace file (or --environment <env>), not --scope ${scope}`);
  if (environment) {
    const { checkEnvironmentName } = await import('../../config/target.js');
    checkEnvironmentName(environment, '--environment');
  }
  const file = layerFile(scope, cfg.dirs, { ...cfg.target, environment: environment ?? cfg.target.environment });
  if (existsSync(file) && inv.flags.force !== true) {
    throw new ProvError('ALREADY_EXISTS', `${file} already exists; config init does not overwrite it`, { hint: 'pass --force to replace it (the current file is not kept), or edit it with `provisioning config edit`' });
  }
  const name = scope === 'workspace' ? (cfg.target.workspace?.name || basename(cfg.target.workspace!.path)) : undefined;
  const text = starter(scope as 'user' | 'workspace' | 'env', { name, environment });
  const { unifiedDiff } = await import('../../config/toml.js');
  const edit = { file, before: existsSync(file) ? readFileSync(file, 'utf8') : '', after: text, diff: '' };
  edit.diff = unifiedDiff(file, edit.before, text);
  if (!inv.globals.check) applyEdit(edit);
  return editResult(inv, edit, `wrote a starter ${scope === 'env' ? `environment file for '${environment}'` : `${scope} file`}`, { scope, environment: environment ?? null });
};

function validateResult(inv: Invocation, state: State, strict: boolean, extra: { decrypt?: boolean; note?: string } = {}): Result {
  const errors = state.problems.filter((p) => p.severity === 'error' || (strict && p.severity === 'warning'));
  const warnings = strict ? [] : state.problems.filter((p) => p.severity === 'warning');
  if (errors.length > 0) throw configInvalid(errors.map((p) => ({ ...p, severity: 'error' })), warnings, state.config.layers);
  if (extra.decrypt) {
    const encrypted = state.config.leaves().filter((l) => isEncrypted(l.value));
    if (encrypted.length > 0) {
      throw new ProvError('KMS_NOT_CONFIGURED', `cannot decrypt ${encrypted.length} encrypted value${encrypted.length === 1 ? '' : 's'} (${encrypted.map((l) => l.key).join(', ')}): KMS is not available yet (it arrives with the KMS/secrets issue)`, {
        hint: 'until then keep these values in environment variables, e.g. PROVISIONING_PROVIDERS__UPCLOUD__PASSWORD',
      });
    }
  }
  showWarnings(inv, warnings);
  const checked = state.config.layers.filter((l) => l.exists);
  const lines = [`✓ configuration valid: ${checked.length} layer${checked.length === 1 ? '' : 's'} (${checked.map((l) => l.label).join(', ')}), ${warnings.length} warning${warnings.length === 1 ? '' : 's'}`];
  if (inv.globals.verbose) for (const l of checked) if (l.file) lines.push(`  ✓ ${l.label}  ${l.file}`);
  if (extra.note) lines.push(extra.note);
  return {
    data: { valid: true, layers: checked.map((l) => ({ layer: l.label, file: l.file ?? null })), warnings: warnings.map(({ severity: _s, ...w }) => w), ...(extra.note ? { note: extra.note } : {}) },
    view: { kind: 'text', text: lines.join('\n') },
  };
}

export const validate: Handler = async (inv) => {
  const file = inv.args.file as string | undefined;
  const strict = inv.flags.strict === true;
  if (!file) return validateResult(inv, stateOf(inv), strict, { decrypt: inv.flags.decrypt === true });
  const abs = resolve(inv.io.cwd, file);
  if (!existsSync(abs)) throw new ProvError('NOT_FOUND', `no such file: ${abs}`);
  const base = stateOf(inv);
  const layer = layerOfFile(abs, base.config.dirs, base.config.target.workspace?.path);
  const state = buildState(loadOptions(inv, { isolate: { file: abs, ...layer } }));
  return validateResult(inv, state, strict, { decrypt: inv.flags.decrypt === true });
};

export const validateAll: Handler = async (inv) => {
  const strict = inv.flags.strict === true;
  const state = buildState(loadOptions(inv, { requireWorkspace: true }));
  const config = validateResult(inv, state, strict, { note: 'workflow files are checked one at a time with `provisioning batch validate <file>`' });
  // Every infra of the workspace, each with its own config layer (and its declared environment).
  const { everyInfra, summaryLine } = await import('./infra.js');
  const { definitionInvalid, formatProblems } = await import('../../model/index.js');
  const infras = await everyInfra(inv, await inv.config({ requireWorkspace: true }));
  const errors: DefProblem[] = infras.flatMap((o) => (!o.error ? [] : (o.error.details.errors as DefProblem[] | undefined)
    ?? [{ code: o.error.code, message: `infra '${o.entry.name}': ${o.error.message}`, ...(o.file ? { file: o.file } : {}), path: '(top level)', expected: '', actual: '', ...(o.error.hint ? { hint: o.error.hint } : {}) }]));
  const warnings = infras.flatMap((o) => o.desired?.warnings ?? []);
  if (errors.length || (strict && warnings.length)) throw definitionInvalid([...errors, ...(strict ? warnings : [])], strict ? [] : warnings);
  if (warnings.length && !inv.globals.quiet) inv.io.stderr.write(`${formatProblems([], warnings)}\n`);
  const text = (config.view as { text: string }).text.split('\n');
  text.splice(1, 0, ...infras.map((o) => `${summaryLine(o.desired!)}${o.environment && o.environment !== state.config.target.environment ? ` (environment ${o.environment})` : ''}`));
  return {
    data: { ...(config.data as object), infras: infras.map((o) => ({ infra: o.entry.name, file: o.file ?? null, environment: o.environment ?? null, valid: true, warnings: o.desired!.warnings })) },
    view: { kind: 'text', text: text.join('\n') },
  };
};
