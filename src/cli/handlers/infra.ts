import { relative } from 'node:path';
import { ProvError } from '../../errors/index.js';
import { loadConfig, type Config } from '../../config/index.js';
import { loadDesired, type DesiredState } from '../../infra/desired.js';
import { clusterData, costLines, costTotals, providersOf, serverData, settingsData, taskservCount, taskservData, type CostLine } from '../../infra/report.js';
import { definitionInvalid, formatOf, formatProblems, listInfras, nameProblem, suggestName, type InfraEntry, type Problem, type TaskservManifest } from '../../model/index.js';
import { loadOptionsFor } from '../config-options.js';
import type { Handler, Invocation, Result } from '../context.js';
import { cell } from '../output.js';
import { closest } from '../suggest.js';
import { kvText, sectionsView, tableText } from './extensions-common.js';

/**
 * `validate infra`, `infra list|show|validate`, `show settings|servers|taskservs|taskserv|clusters|costs`
 * (spec/cli.md §12.3–12.4, §13.1). Everything is computed by src/infra/desired.ts; this file
 * selects the infra, turns the desired state into data (src/infra/report.ts) and views.
 * `schema …` and `generate …` live in infra-schema.ts and infra-generate.ts, re-exported here.
 */

export { schemaList, schemaShow, schemaExport } from './infra-schema.js';
export { generateInfra, generateServer, generateTaskserv, generateCluster } from './infra-generate.js';

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** A positional `<name>` selects the infra like --infra does (and must agree with it). */
export function selectInfra(inv: Invocation, name = inv.args.name as string | undefined): void {
  if (!name) return;
  const why = nameProblem(name);
  if (why) throw new ProvError('INVALID_ARGUMENT', `infra name '${name}': ${why}`, { hint: `did you mean '${suggestName(name)}'?` });
  if (inv.globals.infra && inv.globals.infra !== name) {
    throw new ProvError('USAGE', `two infras named: '${name}' and --infra ${inv.globals.infra}`, { hint: 'give one of them' });
  }
  inv.globals.infra = name;
}

/** The desired state of the selected infra (DEFINITION_INVALID, ENV_MISMATCH … thrown as they are). */
export async function desiredOf(inv: Invocation): Promise<DesiredState> {
  const settingsFile = inv.globals.settings;
  const cfg = await inv.config({ requireWorkspace: true, requireInfra: !settingsFile });
  return loadDesired(cfg, { settingsFile, env: inv.io.env });
}

function showWarnings(inv: Invocation, warnings: Problem[]): void {
  if (warnings.length && !inv.globals.quiet) inv.io.stderr.write(`${formatProblems([], warnings)}\n`);
}

// ── every infra of the workspace ─────────────────────────────────────────────────

export interface InfraOutcome {
  entry: InfraEntry;
  /** the settings file, workspace-relative */
  file?: string;
  environment?: string;
  desired?: DesiredState;
  error?: ProvError;
}

/**
 * Load every infra of the workspace with its own config layer. An infra declared for another
 * environment is loaded in that environment (`infra list`, `validate all` look at all of them);
 * a failure is kept with its infra, never thrown.
 */
export async function everyInfra(inv: Invocation, cfg: Config): Promise<InfraOutcome[]> {
  const ws = cfg.target.workspace!;
  const out: InfraOutcome[] = [];
  for (const entry of await listInfras(ws.path)) {
    const file = entry.settings ? relative(ws.path, entry.settings) : undefined;
    if (entry.problem) {
      out.push({ entry, file, error: definitionInvalid([entry.problem]) });
      continue;
    }
    const attempt = async (environment?: string): Promise<InfraOutcome> => {
      const c = await loadConfig(loadOptionsFor({ ...inv.globals, infra: entry.name, ...(environment ? { environment } : {}) }, inv.io, { requireWorkspace: true, requireInfra: true }));
      const desired = await loadDesired(c, { env: inv.io.env });
      return { entry, file, environment: desired.environment, desired };
    };
    try {
      out.push(await attempt());
    } catch (e) {
      const err = e instanceof ProvError ? e : new ProvError('INTERNAL', (e as Error).message);
      const declared = err.code === 'ENV_MISMATCH' ? err.details.declared as string | undefined : undefined;
      if (declared) {
        try {
          out.push(await attempt(declared));
          continue;
        } catch (e2) {
          out.push({ entry, file, environment: declared, error: e2 instanceof ProvError ? e2 : new ProvError('INTERNAL', (e2 as Error).message) });
          continue;
        }
      }
      out.push({ entry, file, error: err });
    }
  }
  return out;
}

/** The first problem of a failed infra, as one line. */
export function firstProblem(err: ProvError): string {
  const listed = err.details.errors as Problem[] | undefined;
  const p = Array.isArray(listed) ? listed[0] : undefined;
  if (!p) return err.message;
  const where = p.file ? `${[p.file, p.line, p.column].filter((x) => x !== undefined).join(':')}: ` : '';
  return `${where}${p.message}${listed!.length > 1 ? ` (+${listed!.length - 1} more)` : ''}`;
}

// ── validate ─────────────────────────────────────────────────────────────────────

export const summaryLine = (d: DesiredState): string =>
  `✓ infra '${d.infra}' valid: ${plural(d.servers.length, 'server')}, ${plural(taskservCount(d), 'taskserv')}, ${plural(d.clusters.length, 'cluster')}`;

export const validateInfra: Handler = async (inv) => {
  selectInfra(inv);
  const d = await desiredOf(inv);
  if (inv.flags.strict === true && d.warnings.length) throw definitionInvalid(d.warnings);
  showWarnings(inv, d.warnings);
  const lines = [summaryLine(d)];
  if (inv.globals.verbose) for (const s of d.servers) lines.push(`  ✓ ${s.hostname}  ${[s.provider, s.zone, s.plan].filter(Boolean).join(' · ')}  ${(d.taskservs.get(s.hostname) ?? []).map((t) => t.name).join(', ')}`);
  return {
    data: {
      valid: true, workspace: d.workspace.name, infra: d.infra, environment: d.environment, file: d.file,
      servers: d.servers.length, taskservs: taskservCount(d), clusters: d.clusters.length, warnings: d.warnings,
    },
    view: { kind: 'text', text: lines.join('\n') },
  };
};

// ── infra list / show settings ───────────────────────────────────────────────────

export const infraList: Handler = async (inv) => {
  const cfg = await inv.config({ requireWorkspace: true });
  const current = cfg.target.infra;
  const data = (await everyInfra(inv, cfg)).map((o) => ({
    name: o.entry.name,
    default: o.entry.name === current,
    file: o.file ?? null,
    format: o.file ? formatOf(o.file) ?? null : null,
    environment: o.desired?.settings.environment ?? o.environment ?? null,
    providers: o.desired ? providersOf(o.desired) : [],
    servers: o.desired ? o.desired.servers.length : null,
    taskservs: o.desired ? taskservCount(o.desired) : null,
    clusters: o.desired ? o.desired.clusters.length : null,
    status: o.desired ? 'valid' : 'invalid',
    problem: o.error ? firstProblem(o.error) : null,
  }));
  if (data.length === 0) inv.info('no infras in this workspace; create one with `provisioning generate infra <name>`');
  return {
    data,
    view: {
      kind: 'table', columns: ['', 'name', 'file', 'environment', 'providers', 'servers', 'status'],
      rows: data.map((d) => [d.default ? '*' : '', d.name, d.file ?? '', d.environment ?? '', d.providers.join(', '), d.servers ?? '', d.problem ? `${d.status}: ${d.problem}` : d.status]),
    },
  };
};

function serverBlock(d: DesiredState, hostname: string): [string, unknown][] {
  const s = d.servers.find((x) => x.hostname === hostname)!;
  const ts = d.taskservs.get(s.hostname) ?? [];
  const rule = (r: (typeof s.network.firewall)[number]) => `${r.action} ${r.direction} ${r.protocol}${r.port !== undefined ? `/${r.port}` : ''}${r.source ? ` from ${r.source}` : ''}${r.destination ? ` to ${r.destination}` : ''}`;
  return [
    ['title', s.title], ['fqdn', s.fqdn], ['provider', s.provider], ['zone', s.zone], ['plan', s.plan],
    ['size', [s.cores !== undefined ? `${s.cores} cpu` : undefined, s.memory_mb !== undefined ? `${s.memory_mb} MiB` : undefined, `${s.disk_gb} GiB disk`].filter(Boolean).join(' · ')],
    ['image', s.image], ['labels', Object.entries(s.labels).map(([k, v]) => `${k}=${v}`).join(', ')],
    ['storage', s.storage.map((v) => `${v.name} ${v.size_gb} GiB${v.mount ? ` at ${v.mount}` : ''}`).join(', ')],
    ['network', [s.network.public_ipv4 ? 'public IPv4' : '', s.network.public_ipv6 ? 'public IPv6' : '', ...s.network.private.map((p) => `${p.network}${p.ip ? ` ${p.ip}` : ''}`)].filter(Boolean).join(', ')],
    ['firewall', s.network.firewall.map(rule).join('; ')],
    ['protected', s.protected ? 'yes' : undefined],
    ['price', s.price ? `${s.price.monthly.toFixed(2)} ${s.price.currency}/month` : undefined],
    ['taskservs', ts.map((t) => `${t.name} ${t.version}${t.reason === 'declared' ? '' : ` (${t.reason})`}`).join(', ')],
  ];
}

const header = (d: DesiredState) => `infra ${d.infra} · workspace ${d.workspace.name} · env ${d.environment} · ${d.file}`;

export const showSettings: Handler = async (inv) => {
  selectInfra(inv);
  const d = await desiredOf(inv);
  showWarnings(inv, d.warnings);
  const blocks = await Promise.all(d.servers.map(async (s) => `${s.hostname}\n${indent(await kvText(serverBlock(d, s.hostname)))}`));
  const clusters = d.clusters.length ? `clusters\n${indent(await tableText(['cluster', 'order'], d.clusters.map((c) => [c.name, c.order.join(' → ')])))}` : undefined;
  return { data: settingsData(d), view: sectionsView([header(d), ...blocks, clusters]) };
};

const indent = (text: string) => text.split('\n').map((l) => `  ${l}`).join('\n');

// ── show servers / taskservs / taskserv / clusters ───────────────────────────────

/** Recorded status by resource id (`server:<infra>/<host>`, `taskserv:<infra>/<host>/<name>`), read-only. */
async function recorded(d: DesiredState): Promise<(id: string) => string> {
  const { readResources } = await import('../../store/sqlite/read.js');
  const byId = new Map(readResources(d.workspace.path, d.workspace.name, d.infra).map((r) => [r.id, r.status]));
  return (id) => byId.get(id) ?? 'not created';
}

function requireServer(d: DesiredState, hostname: string): void {
  if (d.servers.some((s) => s.hostname === hostname)) return;
  const near = closest(hostname, d.servers.map((s) => s.hostname), 1)[0];
  throw new ProvError('NOT_FOUND', `infra '${d.infra}' has no server '${hostname}'`, { hint: near ? `did you mean '${near}'?` : `servers: ${d.servers.map((s) => s.hostname).join(', ') || '(none)'}` });
}

/** `--servers a,b --servers c` → [a, b, c], each checked against the infra. */
function serversFlag(inv: Invocation, d: DesiredState): string[] | undefined {
  const raw = inv.flags.servers as string[] | string | undefined;
  if (raw === undefined) return undefined;
  const names = (Array.isArray(raw) ? raw : [raw]).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  for (const n of names) requireServer(d, n);
  return names;
}

export const showServers: Handler = async (inv) => {
  const name = inv.args.name as string | undefined;
  const d = await desiredOf(inv);
  showWarnings(inv, d.warnings);
  const state = await recorded(d);
  const serverState = (h: string) => state(`server:${d.infra}/${h}`);
  if (name) {
    requireServer(d, name);
    const s = d.servers.find((x) => x.hostname === name)!;
    return { data: { ...serverData(d, s), state: serverState(name) }, view: { kind: 'text', text: `${s.hostname}\n${indent(await kvText([...serverBlock(d, name), ['state', serverState(name)]]))}` } };
  }
  const data = d.servers.map((s) => ({
    hostname: s.hostname, provider: s.provider ?? null, zone: s.zone ?? null, plan: s.plan ?? null, cores: s.cores ?? null, memory_mb: s.memory_mb ?? null,
    disk_gb: s.disk_gb, image: s.image ?? null, labels: s.labels, protected: s.protected,
    taskservs: (d.taskservs.get(s.hostname) ?? []).map((t) => t.name), checksum: s.checksum, state: serverState(s.hostname),
  }));
  return {
    data,
    view: {
      kind: 'table', columns: ['hostname', 'provider', 'zone', 'plan', 'cores', 'memory', 'disk', 'taskservs', 'state'],
      rows: data.map((s) => [s.hostname, s.provider ?? '', s.zone ?? '', s.plan ?? '', s.cores ?? '', s.memory_mb !== null ? `${s.memory_mb} MiB` : '', `${s.disk_gb} GiB`, s.taskservs.join(', '), s.state]),
    },
  };
};

export const showTaskservs: Handler = async (inv) => {
  const d = await desiredOf(inv);
  showWarnings(inv, d.warnings);
  const only = serversFlag(inv, d);
  const state = await recorded(d);
  const data = d.servers.filter((s) => !only || only.includes(s.hostname))
    .flatMap((s) => (d.taskservs.get(s.hostname) ?? []).map((t, i) => ({ server: s.hostname, order: i + 1, ...taskservData(t), state: state(`taskserv:${d.infra}/${s.hostname}/${t.name}`) })));
  return {
    data,
    view: { kind: 'table', columns: ['server', '#', 'taskserv', 'version', 'profile', 'reason', 'state'], rows: data.map((t) => [t.server, t.order, t.name, t.version, t.profile, t.reason, t.state]) },
  };
};

export const showTaskserv: Handler = async (inv) => {
  const name = String(inv.args.name);
  const d = await desiredOf(inv);
  showWarnings(inv, d.warnings);
  const only = serversFlag(inv, d);
  const placed = d.servers.filter((s) => (d.taskservs.get(s.hostname) ?? []).some((t) => t.name === name));
  if (placed.length === 0) {
    const inInfra = [...new Set([...d.taskservs.values()].flatMap((l) => l.map((t) => t.name)))].sort();
    const known = d.catalog.get('taskserv', name);
    const near = closest(name, inInfra, 1)[0];
    throw new ProvError('NOT_FOUND', known ? `taskserv '${name}' is on no server of infra '${d.infra}'` : `unknown taskserv '${name}'`, {
      hint: near ? `did you mean '${near}'?` : known ? `add it with \`provisioning generate taskserv ${name} --servers <host>\`` : '`provisioning taskserv list --available` shows the catalog',
    });
  }
  const m = d.catalog.get('taskserv', name) as TaskservManifest;
  const files = (m.templates ?? []).map((t) => t.target);
  const state = await recorded(d);
  const data = placed.filter((s) => !only || only.includes(s.hostname)).map((s) => {
    const t = (d.taskservs.get(s.hostname) ?? []).find((x) => x.name === name)!;
    return { server: s.hostname, ...taskservData(t), files, state: state(`taskserv:${d.infra}/${s.hostname}/${name}`) };
  });
  if (only && data.length === 0) throw new ProvError('NOT_FOUND', `taskserv '${name}' is not on ${only.join(', ')}`, { hint: `it is on ${placed.map((s) => s.hostname).join(', ')}` });
  const blocks = await Promise.all(data.map(async (t) => `${t.server} · ${t.name} ${t.version} · profile ${t.profile}${t.reason === 'declared' ? '' : ` · ${t.reason}`}\n${indent(await kvText([...Object.entries(t.settings).map(([k, v]): [string, unknown] => [k, typeof v === 'string' ? v : cell(v)]), ['files', t.files.join(', ')], ['state', t.state]]))}`));
  return { data, view: sectionsView(blocks) };
};

export const showClusters: Handler = async (inv) => {
  const d = await desiredOf(inv);
  showWarnings(inv, d.warnings);
  const data = clusterData(d);
  const rows = d.clusters.flatMap((c) => c.order.map((comp, i) => {
    const x = c.components.find((y) => y.name === comp)!;
    return [i === 0 ? c.name : '', i === 0 ? c.extension ?? '' : '', i + 1, x.name, x.taskserv, x.servers.join(', '), x.after.join(', ')];
  }));
  if (data.length === 0) inv.info(`infra '${d.infra}' defines no clusters`);
  return { data, view: { kind: 'table', columns: ['cluster', 'extension', '#', 'component', 'taskserv', 'servers', 'after'], rows } };
};

// ── show costs ───────────────────────────────────────────────────────────────────

const money = (n: number | null, digits = 2) => (n === null ? '' : n.toFixed(digits));

export const showCosts: Handler = async (inv): Promise<Result> => {
  let lines: CostLine[];
  const failed: { infra: string; problem: string }[] = [];
  if (inv.flags.all === true) {
    const cfg = await inv.config({ requireWorkspace: true });
    lines = [];
    for (const o of await everyInfra(inv, cfg)) {
      if (o.desired) lines.push(...costLines(o.desired));
      else {
        failed.push({ infra: o.entry.name, problem: firstProblem(o.error!) });
        inv.warn(`infra '${o.entry.name}' left out: ${firstProblem(o.error!)}`);
      }
    }
  } else {
    const d = await desiredOf(inv);
    showWarnings(inv, d.warnings);
    lines = costLines(d);
  }
  const totals = costTotals(lines);
  const rows: unknown[][] = lines.map((l) => [l.infra, l.hostname, l.provider ?? '', l.plan ?? '', money(l.hourly, 4), money(l.monthly), l.currency ?? '', l.note ?? '']);
  for (const t of totals) rows.push(['total', plural(t.servers, 'server'), '', '', money(t.hourly, 4), money(t.monthly), t.currency, '']);
  return {
    data: { servers: lines, totals, ...(inv.flags.all === true ? { failed } : {}) },
    view: { kind: 'table', columns: ['infra', 'server', 'provider', 'plan', 'hourly', 'monthly', 'currency', 'note'], rows },
  };
};
