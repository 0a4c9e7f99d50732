import { parseDuration, parseSize, type ProviderManifest, type ResolvedServer } from '../model/index.js';
import { closest } from '../cli/suggest.js';
import { providerPlans } from '../extensions/inspect.js';
import type { Issue, Plan, Price } from './types.js';

/**
 * What the core providers take from their manifest: the static catalog (used offline), the
 * pricing table, and config values with the manifest's defaults.
 */

export function staticPlans(m: ProviderManifest): Plan[] {
  return providerPlans(m).map((p) => {
    const plan: Plan = { name: p.name, cores: p.cores, memory_mb: parseSize(p.memory as string | number, 'MiB') ?? 0 };
    const disk = p.disk === undefined ? undefined : parseSize(p.disk as string | number, 'GiB');
    if (disk !== undefined) plan.disk_gb = disk / 1024;
    return plan;
  });
}

/** The pricing table's figures for the server's plan (custom sizes have no static price). */
export function staticPrice(m: ProviderManifest, server: ResolvedServer): Price | undefined {
  const currency = m.pricing?.currency;
  const p = providerPlans(m).find((x) => x.name === server.plan);
  if (!currency || !p || p.hourly === undefined || p.monthly === undefined) return undefined;
  return { hourly: p.hourly, monthly: p.monthly, currency };
}

/** A config value, else the manifest's `[config]` default; "" counts as unset. */
export function configValue(m: ProviderManifest, config: Record<string, unknown>, key: string): unknown {
  const v = config[key];
  if (v !== undefined && v !== '' && v !== null) return v;
  return m.config?.[key]?.default;
}

export function configSeconds(m: ProviderManifest, config: Record<string, unknown>, key: string, fallback: number): number {
  const v = configValue(m, config, key);
  return (typeof v === 'string' || typeof v === 'number' ? parseDuration(v) : undefined) ?? fallback;
}

/**
 * Offline checks shared by the core providers: zone against the static zone list (error),
 * plan against the static plans (a warning: the static list is a subset of what the API sells).
 */
export function checkCatalog(provider: string, m: ProviderManifest, servers: ResolvedServer[]): Issue[] {
  const issues: Issue[] = [];
  const zones = m.catalog?.zones ?? [];
  const plans = staticPlans(m).map((p) => p.name);
  for (const s of servers) {
    if (s.zone && zones.length && !zones.includes(s.zone)) {
      const near = closest(s.zone, zones, 1)[0];
      issues.push({
        severity: 'error', code: 'DEF_CONFLICT', path: `servers.${s.hostname}.zone`,
        message: `${provider} has no zone '${s.zone}'`,
        hint: near ? `did you mean '${near}'? zones: ${zones.join(', ')}` : `zones: ${zones.join(', ')}`,
      });
    }
    if (s.plan && plans.length && !plans.includes(s.plan)) {
      const near = closest(s.plan, plans, 1)[0];
      issues.push({
        severity: 'warning', code: 'DEF_CONFLICT', path: `servers.${s.hostname}.plan`,
        message: `plan '${s.plan}' is not in ${provider}'s static catalog; the API decides at create`,
        hint: near ? `did you mean '${near}'?` : `known plans: ${plans.join(', ')}`,
      });
    }
  }
  return issues;
}
