import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ProvError } from '../../errors/index.js';
import { applyEdit, displayValue, planEdit } from '../../config/edit.js';
import { layerFile } from '../../config/index.js';
import { buildState } from '../../config/load.js';
import { checkEnvironmentName, listEnvironments } from '../../config/target.js';
import type { Handler } from '../context.js';
import { loadOptions } from './config.js';

/** `env …` (spec/cli.md §12.2): what a command would act on, the environments, switching. */

/** Variables shown by `env`; the token is a credential and is never printed. */
const masked = (k: string, v: string) => (k === 'PROVISIONING_AUTH_TOKEN' ? '<secret>' : v);
const shq = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;

export const show: Handler = async (inv) => {
  const cfg = await inv.config();
  const ws = cfg.target.workspace;
  const variables = Object.fromEntries(Object.keys(inv.io.env).filter((k) => k.startsWith('PROVISIONING_')).sort().map((k) => [k, masked(k, inv.io.env[k]!)]));
  const paths = Object.fromEntries(['base', 'state', 'logs', 'config_home', 'data_home', 'cache_home'].map((k) => [k, cfg.get(`paths.${k}`) ?? null]));
  const data: Record<string, unknown> = {
    workspace: ws?.name ?? null, workspace_path: ws?.path ?? null, infra: cfg.target.infra ?? null,
    environment: cfg.target.environment, mode: cfg.mode, paths, variables,
  };
  if (inv.flags.all === true) data.config = Object.fromEntries(cfg.leaves().map((l) => [l.key, displayValue(l.key, l.value)]));
  if (inv.flags.export === true) {
    // What selects this target in another shell; settings already in PROVISIONING_* are repeated as they are.
    const exports: Record<string, string> = { ...variables as Record<string, string> };
    delete exports.PROVISIONING_AUTH_TOKEN;
    if (ws) exports.PROVISIONING_WORKSPACE = ws.path;
    exports.PROVISIONING_ENV = cfg.target.environment;
    if (cfg.target.infra) exports.PROVISIONING_INFRA = cfg.target.infra;
    const text = Object.entries(exports).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `export ${k}=${shq(v)}`).join('\n');
    return { data: { ...data, exports }, view: { kind: 'text', text } };
  }
  const entries: [string, unknown][] = [
    ['workspace', ws ? `${ws.name} (${ws.path})` : '-'], ['infra', cfg.target.infra ?? '-'], ['environment', cfg.target.environment], ['mode', cfg.mode],
    ...Object.entries(paths).map(([k, v]): [string, unknown] => [`paths.${k}`, v ?? '-']),
    ...Object.entries(variables),
    ...(data.config ? Object.entries(data.config as Record<string, unknown>) : []),
  ];
  return { data, view: { kind: 'kv', entries } };
};

export const list: Handler = async (inv) => {
  const cfg = await inv.config({ requireWorkspace: true });
  const ws = cfg.target.workspace!;
  const names = [...new Set(['dev', ...listEnvironments(ws.path)])].sort();
  const def = (cfg.get('workspace.default_environment') as string | undefined) ?? 'dev';
  const rows = names.map((name) => {
    const file = join(ws.path, 'config', `${name}.toml`);
    return { name, file: existsSync(file) ? file : null, current: name === cfg.target.environment, default: name === def };
  });
  return {
    data: rows,
    view: { kind: 'table', columns: ['', 'environment', 'file', 'default'], rows: rows.map((r) => [r.current ? '*' : '', r.name, r.file ?? '(none: built-in defaults)', r.default ? 'yes' : '']) },
  };
};

const switchEnv: Handler = async (inv) => {
  const name = inv.args.name as string;
  checkEnvironmentName(name, 'env switch');
  const opts = loadOptions(inv, { select: { workspace: inv.globals.workspace, infra: inv.globals.infra } });
  const state = buildState({ ...opts, requireWorkspace: true });
  const ws = state.config.target.workspace!;
  const available = ['dev', ...listEnvironments(ws.path).filter((e) => e !== 'dev')];
  if (!available.includes(name)) {
    throw new ProvError('ENV_NOT_CONFIGURED', `environment '${name}' is not configured; available: ${available.join(', ')}`, {
      hint: `\`provisioning config init --environment ${name}\` creates config/${name}.toml`,
    });
  }
  const file = layerFile('workspace', state.config.dirs, state.config.target);
  const edit = planEdit({ ...opts, select: { ...opts.select, environment: name } }, file, ['workspace', 'default_environment'], { set: name });
  const regDefault = (await import('../../workspace/registry.js')).readRegistry(state.config.dirs).workspaces[ws.name]?.default_environment;
  if (regDefault && regDefault !== name) inv.warn(`the registry entry of '${ws.name}' sets default_environment = '${regDefault}', which takes precedence over the workspace file`);
  if (inv.io.env.PROVISIONING_ENV && inv.io.env.PROVISIONING_ENV !== name) inv.warn(`PROVISIONING_ENV=${inv.io.env.PROVISIONING_ENV} in this shell still selects that environment`);
  if (inv.globals.check) {
    return { data: { environment: name, file, diff: edit.diff, changed: edit.diff !== '', applied: false }, view: { kind: 'text', text: `would write ${file}\n${edit.diff || '(no change)\n'}` } };
  }
  applyEdit(edit);
  return { data: { environment: name, file, changed: edit.diff !== '', applied: true }, view: { kind: 'text', text: `default environment of ${ws.name}: ${name} (${file})` } };
};

// `switch` is a reserved word; the command table names the export.
export { switchEnv as switch };
