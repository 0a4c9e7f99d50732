import { canonicalSpec } from '../model/index.js';
import type { DesiredServer, DesiredState, DesiredTaskserv } from './desired.js';

/**
 * The stable JSON shapes of the infra views (`show settings|servers|taskservs|taskserv|clusters|costs`,
 * `infra list`), built from a desired state. Secrets are always "<secret>": resolved values go
 * through the canonical form (models.md §7), which also sorts keys and drops absent fields, so
 * the same infra written in TypeScript or TOML gives byte-identical output.
 */

export interface TaskservData {
  name: string;
  version: string;
  /** `declared`, or `required by <name>` */
  reason: string;
  profile: string;
  settings: Record<string, unknown>;
  checksum: string;
}

export function taskservData(t: DesiredTaskserv): TaskservData {
  return {
    name: t.name, version: t.version, reason: t.reason, profile: t.profile,
    settings: canonicalSpec(t.settings, { secretPaths: t.secret_paths }), checksum: t.checksum,
  };
}

/**
 * One resolved server with the taskservs that will run on it (in install order). The declared
 * refs are replaced by the resolved list: it carries the same names plus added dependencies, and
 * its settings are masked by the manifests' secret fields.
 */
export function serverData(d: DesiredState, s: DesiredServer): Record<string, unknown> {
  const { taskservs: _refs, price, ...rest } = s;
  return {
    ...canonicalSpec(rest),
    price: price ? { hourly: price.hourly, monthly: price.monthly, currency: price.currency } : null,
    taskservs: (d.taskservs.get(s.hostname) ?? []).map(taskservData),
  };
}

export function clusterData(d: DesiredState): Record<string, unknown>[] {
  return d.clusters.map((c) => ({
    name: c.name, extension: c.extension ?? null, version: c.version ?? null, order: c.order, parallel: c.parallel,
    rollback_on_failure: c.rollback_on_failure,
    components: c.components.map((x) => ({ name: x.name, taskserv: x.taskserv, servers: x.servers, after: x.after, optional: x.optional, settings: canonicalSpec(x.settings) })),
    checksum: c.checksum,
  }));
}

/** `show settings` / `infra show`. */
export function settingsData(d: DesiredState): Record<string, unknown> {
  return {
    workspace: d.workspace.name, infra: d.infra, environment: d.environment, file: d.file,
    servers: d.servers.map((s) => serverData(d, s)),
    clusters: clusterData(d),
    warnings: d.warnings,
  };
}

/** Providers used by the servers of an infra, sorted. */
export const providersOf = (d: DesiredState): string[] => [...new Set(d.servers.map((s) => s.provider).filter((p): p is string => Boolean(p)))].sort();

export const taskservCount = (d: DesiredState): number => [...d.taskservs.values()].reduce((n, l) => n + l.length, 0);

// ── costs ────────────────────────────────────────────────────────────────────────

export interface CostLine {
  infra: string;
  hostname: string;
  provider: string | null;
  plan: string | null;
  hourly: number | null;
  monthly: number | null;
  currency: string | null;
  /** why there is no price */
  note: string | null;
}

export interface CostTotal { currency: string; hourly: number; monthly: number; servers: number }

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

export function costLines(d: DesiredState): CostLine[] {
  return d.servers.map((s) => {
    const m = s.provider ? d.catalog.get('provider', s.provider) as { pricing?: unknown } | undefined : undefined;
    const note = s.price ? null
      : !m?.pricing ? `provider ${s.provider ?? '(none)'} publishes no pricing`
        : s.plan ? `plan ${s.plan} has no price in the ${s.provider} catalog`
          : 'sized by cores/memory: no catalog price';
    return {
      infra: d.infra, hostname: s.hostname, provider: s.provider ?? null, plan: s.plan ?? null,
      hourly: s.price ? round(s.price.hourly, 4) : null, monthly: s.price ? round(s.price.monthly, 2) : null,
      currency: s.price?.currency ?? null, note,
    };
  });
}

/** Totals per currency (never summed across currencies), sorted by currency. */
export function costTotals(lines: CostLine[]): CostTotal[] {
  const by = new Map<string, CostTotal>();
  for (const l of lines) {
    if (l.currency === null || l.monthly === null || l.hourly === null) continue;
    const t = by.get(l.currency) ?? { currency: l.currency, hourly: 0, monthly: 0, servers: 0 };
    t.hourly += l.hourly; t.monthly += l.monthly; t.servers++;
    by.set(l.currency, t);
  }
  return [...by.values()].map((t) => ({ ...t, hourly: round(t.hourly, 4), monthly: round(t.monthly, 2) })).sort((a, b) => a.currency.localeCompare(b.currency));
}
