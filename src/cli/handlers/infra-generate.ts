import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ProvError } from '../../errors/index.js';
import type { Config } from '../../config/index.js';
import { loadCatalog } from '../../extensions/catalog.js';
import {
  INFRA_TEMPLATES, lineDiff, renameInfraText, renderInfraTemplate, snippet, tomlAddTaskserv, tomlAppendEntry,
} from '../../infra/generate.js';
import {
  findInfraSettings, formatOf, isTable, loadDefinition, nameProblem, SETTINGS_FILES, suggestName, type ClusterManifest, type FieldSchema,
} from '../../model/index.js';
import type { Handler, Invocation, Result } from '../context.js';
import { closest } from '../suggest.js';

/** `generate infra|server|taskserv|cluster` (spec/cli.md §13.2); the editing rules are in src/infra/generate.ts. */

function requireName(raw: string, what: string): void {
  const why = nameProblem(raw);
  if (why) throw new ProvError('INVALID_ARGUMENT', `${what} '${raw}': ${why}`, { hint: `did you mean '${suggestName(raw)}'?` });
}

const checkHeader = (cfg: Config, what: string) => `Check mode — nothing will be changed   workspace ${cfg.target.workspace!.name} · ${what}`;

// ── generate infra ───────────────────────────────────────────────────────────────

function filesUnder(dir: string, rel = ''): string[] {
  return readdirSync(join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const p = rel ? `${rel}/${e.name}` : e.name;
    return e.isDirectory() ? filesUnder(dir, p) : [p];
  });
}

export const generateInfra: Handler = async (inv) => {
  const positional = inv.args.name as string | undefined;
  const alias = inv.flags.new as string | undefined;
  if (positional && alias && positional !== alias) throw new ProvError('USAGE', `two names given: '${positional}' and --new ${alias}`, { hint: '--new <name> is the same as the positional <name>; give one' });
  const name = positional ?? alias;
  if (!name) throw new ProvError('USAGE', '`generate infra` needs the name of the new infra', { hint: 'provisioning generate infra <name> [--template <t>]' });
  requireName(name, 'infra name');
  const from = inv.flags.from as string | undefined;
  const template = inv.flags.template as string | undefined;
  const provider = inv.flags.provider as string | undefined;
  if (from && (template || provider)) throw new ProvError('USAGE', '--from copies an infra as it is; it does not take --template or --provider', { hint: 'give --from alone, or --template/--provider' });
  const cfg = await inv.config({ requireWorkspace: true });
  const ws = cfg.target.workspace!;
  const dir = join(ws.path, 'infra', name);

  let files: { path: string; content: string }[];
  let source: string;
  if (from) {
    requireName(from, 'infra name');
    const fromDir = join(ws.path, 'infra', from);
    if (!existsSync(fromDir)) throw new ProvError('NOT_FOUND', `infra '${from}' not found (no directory infra/${from})`, { hint: 'list infras with `provisioning infra list`' });
    if (from === name) throw new ProvError('USAGE', `--from ${from} is the infra being generated`);
    const settings = relative(fromDir, findInfraSettings(fromDir, join('infra', from)));
    files = filesUnder(fromDir).map((p) => {
      const content = readFileSync(join(fromDir, p), 'utf8');
      return { path: p, content: p === settings ? renameInfraText(content, formatOf(p)!, from, name) : content };
    });
    source = `copy of infra '${from}'`;
  } else {
    const t = template ?? 'default';
    if (!INFRA_TEMPLATES.includes(t)) {
      const near = closest(t, INFRA_TEMPLATES, 1)[0];
      throw new ProvError('INVALID_ARGUMENT', `unknown infra template '${t}'`, { hint: `${near ? `did you mean '${near}'? ` : ''}templates: ${INFRA_TEMPLATES.join(', ')}` });
    }
    if (provider) {
      requireName(provider, 'provider name');
      const catalog = loadCatalog(ws.path);
      if (!catalog.get('provider', provider)) {
        const near = closest(provider, catalog.names('provider'), 1)[0];
        throw new ProvError('NOT_FOUND', `unknown provider '${provider}'`, { hint: near ? `did you mean '${near}'?` : `providers: ${catalog.names('provider').join(', ')}` });
      }
    }
    files = renderInfraTemplate(t, { name, workspace: ws.name, provider });
    source = `template '${t}'${provider ? ` for provider ${provider}` : ''}`;
  }

  // One settings file per infra: with --force, the ones this generator does not write go.
  const present = existsSync(dir) ? SETTINGS_FILES.filter((f) => existsSync(join(dir, f))) : [];
  const clobbered = files.filter((f) => existsSync(join(dir, f.path))).map((f) => f.path);
  if ((present.length > 0 || clobbered.length > 0) && inv.flags.force !== true) {
    throw new ProvError('ALREADY_EXISTS', `infra '${name}' already exists (infra/${name}/${[...new Set([...present, ...clobbered])].join(', ')})`, {
      hint: `--force replaces its files; or pick another name. \`provisioning infra show ${name}\` shows what it defines`,
    });
  }
  const removed = present.filter((f) => !files.some((x) => x.path === f));
  const shown = (p: string) => `infra/${name}/${p}`;
  const actions = [
    ...files.map((f) => ({ action: existsSync(join(dir, f.path)) ? 'update' : 'create', kind: 'file', name: shown(f.path) })),
    ...removed.map((f) => ({ action: 'delete', kind: 'file', name: shown(f) })),
  ];
  if (inv.globals.check) {
    return {
      data: { check: true, workspace: ws.name, infra: name, source, actions, files: files.map((f) => ({ path: shown(f.path), content: f.content })) },
      view: { kind: 'text', text: [checkHeader(cfg, `infra ${name}`), '', ...actions.map((a) => `  ${a.action}  ${a.name}`), ...files.flatMap((f) => ['', `── ${shown(f.path)}`, f.content.trimEnd()])].join('\n') },
    };
  }
  for (const f of files) {
    mkdirSync(dirname(join(dir, f.path)), { recursive: true });
    writeFileSync(join(dir, f.path), f.content);
  }
  for (const f of removed) rmSync(join(dir, f));
  inv.info(`next: provisioning validate infra ${name}`);
  return {
    data: { workspace: ws.name, infra: name, source, path: dir, actions },
    view: { kind: 'text', text: `created infra '${name}' from ${source}: ${files.map((f) => shown(f.path)).join(', ')}` },
  };
};

// ── entries in the selected infra's settings file ───────────────────────────────

interface Target { cfg: Config; infra: string; file: string; shown: string; format: NonNullable<ReturnType<typeof formatOf>>; text: string; data: Record<string, unknown> }

async function targetOf(inv: Invocation): Promise<Target> {
  const settingsFile = inv.globals.settings;
  const cfg = await inv.config({ requireWorkspace: true, requireInfra: !settingsFile });
  const ws = cfg.target.workspace!;
  const infra = cfg.target.infra!;
  const file = settingsFile ? resolve(inv.io.cwd, settingsFile) : findInfraSettings(join(ws.path, 'infra', infra), join('infra', infra));
  const shown = relative(ws.path, file).startsWith('..') ? file : relative(ws.path, file);
  const format = formatOf(file);
  if (!format) throw new ProvError('INVALID_ARGUMENT', `${shown}: unsupported definition format`, { hint: 'use .ts, .toml, .yaml, .yml or .json' });
  // Parsed (and for TypeScript evaluated) but not validated: an entry can be added to an infra that does not validate yet.
  const def = await loadDefinition(file, { kind: 'infra', displayPath: shown, env: inv.io.env, context: { workspace: ws.name, infra: infra ?? '', environment: cfg.target.environment } });
  return { cfg, infra: infra ?? '', file, shown, format, text: readFileSync(file, 'utf8'), data: isTable(def.data) ? def.data : {} };
}

const listOf = (t: Target, key: string): Record<string, unknown>[] => (Array.isArray(t.data[key]) ? (t.data[key] as unknown[]).filter(isTable) : []);

/**
 * Write a TOML edit (or print it in check mode); for other formats print the entry to paste.
 * `where` names the list the entry belongs to.
 */
function writeEntry(inv: Invocation, t: Target, what: string, where: string, entry: unknown, edit: () => string): Result {
  if (t.format !== 'toml') {
    const text = snippet(t.format, entry);
    inv.info(`${t.shown} is not rewritten (${t.format === 'ts' ? 'TypeScript is code: helpers, spreads and comments would be lost' : 'only TOML definitions are edited in place'}); add this to ${where}:`);
    return { data: { infra: t.infra, file: t.shown, written: false, where, entry, snippet: text }, view: { kind: 'text', text } };
  }
  const next = edit();
  const diff = lineDiff(t.text, next);
  if (inv.globals.check) {
    return {
      data: { check: true, infra: t.infra, file: t.shown, actions: [{ action: 'update', kind: 'file', name: t.shown }], entry, diff },
      view: { kind: 'text', text: [checkHeader(t.cfg, `infra ${t.infra}`), '', `  update  ${t.shown}  (${what})`, '', diff].join('\n') },
    };
  }
  writeFileSync(t.file, next);
  inv.info(`next: provisioning validate infra ${t.infra}`);
  return { data: { infra: t.infra, file: t.shown, written: true, where, entry, diff }, view: { kind: 'text', text: `${what} added to ${t.shown}\n${diff}` } };
}

export const generateServer: Handler = async (inv) => {
  const t = await targetOf(inv);
  const hosts = listOf(t, 'servers').map((s) => s.hostname).filter((h): h is string => typeof h === 'string');
  let hostname = inv.args.name as string | undefined;
  if (hostname) requireName(hostname, 'hostname');
  else for (let n = 1; !hostname; n++) if (!hosts.includes(`server-${String(n).padStart(2, '0')}`)) hostname = `server-${String(n).padStart(2, '0')}`;
  if (hosts.includes(hostname)) throw new ProvError('ALREADY_EXISTS', `infra '${t.infra}' already has a server '${hostname}'`, { hint: 'hostnames are unique within an infra; pick another one' });
  const provider = inv.flags.provider as string | undefined;
  if (provider) requireName(provider, 'provider name');
  const entry = { hostname, ...(provider ? { provider } : {}), ...(typeof inv.flags.plan === 'string' ? { plan: inv.flags.plan } : {}) };
  return writeEntry(inv, t, `server ${hostname}`, 'servers', entry, () => tomlAppendEntry(t.text, t.shown, 'servers', entry));
};

export const generateTaskserv: Handler = async (inv) => {
  const name = String(inv.args.name);
  requireName(name, 'taskserv name');
  const t = await targetOf(inv);
  const catalog = loadCatalog(t.cfg.target.workspace!.path, t.infra || undefined);
  if (!catalog.get('taskserv', name)) {
    const near = closest(name, catalog.names('taskserv'), 1)[0];
    throw new ProvError('NOT_FOUND', `unknown taskserv '${name}'`, { hint: near ? `did you mean '${near}'?` : '`provisioning taskserv list --available` shows the catalog' });
  }
  const servers = listOf(t, 'servers');
  const hosts = servers.map((s) => String(s.hostname));
  const raw = inv.flags.servers as string[] | string | undefined;
  const wanted = raw === undefined ? hosts : (Array.isArray(raw) ? raw : [raw]).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  for (const h of wanted) {
    if (!hosts.includes(h)) {
      const near = closest(h, hosts, 1)[0];
      throw new ProvError('NOT_FOUND', `infra '${t.infra}' has no server '${h}'`, { hint: near ? `did you mean '${near}'?` : `servers: ${hosts.join(', ') || '(none)'}` });
    }
  }
  if (wanted.length === 0) throw new ProvError('USAGE', `infra '${t.infra}' has no servers to add ${name} to`, { hint: 'add one first: `provisioning generate server <hostname>`' });
  const has = (s: Record<string, unknown>) => Array.isArray(s.taskservs) && s.taskservs.some((r) => r === name || (isTable(r) && r.name === name));
  const indexes = hosts.map((h, i) => (wanted.includes(h) && !has(servers[i]!) ? i : -1)).filter((i) => i >= 0);
  if (indexes.length === 0) {
    inv.info(`${name} is already on ${wanted.join(', ')}: nothing to add`);
    return { data: { infra: t.infra, file: t.shown, written: false, servers: [], skipped: wanted }, view: { kind: 'text', text: `${name} is already on ${wanted.join(', ')}` } };
  }
  const on = indexes.map((i) => hosts[i]!);
  const skipped = wanted.filter((h) => !on.includes(h));
  if (skipped.length) inv.info(`${name} is already on ${skipped.join(', ')}`);
  const r = writeEntry(inv, t, `taskserv ${name} on ${on.join(', ')}`, `the taskservs of ${on.join(', ')}`, name, () => tomlAddTaskserv(t.text, t.shown, indexes, name));
  return { ...r, data: { ...(r.data as object), servers: on, skipped } };
};

/** A value for a required cluster setting without a default, to be replaced by the user. */
function placeholderFor(f: FieldSchema): unknown {
  switch (f.type) {
    case 'integer': case 'number': return f.min ?? 0;
    case 'boolean': return false;
    case 'array': return [];
    case 'table': case 'any': return {};
    default: return 'change-me';
  }
}

export const generateCluster: Handler = async (inv) => {
  const name = String(inv.args.name);
  requireName(name, 'cluster name');
  const t = await targetOf(inv);
  const catalog = loadCatalog(t.cfg.target.workspace!.path, t.infra || undefined);
  const m = catalog.get('cluster', name) as ClusterManifest | undefined;
  if (!m) {
    const near = closest(name, catalog.names('cluster'), 1)[0];
    throw new ProvError('NOT_FOUND', `unknown cluster '${name}'`, { hint: near ? `did you mean '${near}'?` : `clusters: ${catalog.names('cluster').join(', ')} (\`provisioning cluster list\`)` });
  }
  if (listOf(t, 'clusters').some((c) => c.name === name)) throw new ProvError('ALREADY_EXISTS', `infra '${t.infra}' already has a cluster '${name}'`, { hint: `\`provisioning show clusters\` shows it` });
  const required = Object.entries(m.settings ?? {}).filter(([, f]) => f.required && f.default === undefined);
  const entry = { name, extension: name, ...(required.length ? { settings: Object.fromEntries(required.map(([k, f]) => [k, placeholderFor(f)])) } : {}) };
  if (required.length) inv.info(`set ${required.map(([k]) => `settings.${k}`).join(', ')} of cluster ${name}: the generated values are placeholders`);
  inv.info(`members: ${m.cluster.components.map((c) => `${c.name} (${c.taskserv})`).join(', ')}; placement as in the extension (\`provisioning cluster show ${name}\`)`);
  return writeEntry(inv, t, `cluster ${name}`, 'clusters', entry, () => tomlAppendEntry(t.text, t.shown, 'clusters', entry));
};
