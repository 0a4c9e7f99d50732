/**
 * Rendering of taskserv templates, scripts and check fields (models.md §5.3): Jinja2 syntax
 * through nunjucks, with undefined variables as errors (never an empty string), no HTML
 * escaping, and one context per server.
 */
import nunjucks from 'nunjucks';
import { ProvError } from '../errors/index.js';
import type { DesiredState } from '../infra/desired.js';
import type { ResourceState } from '../store/types.js';

const env = new nunjucks.Environment(null, { throwOnUndefined: true, autoescape: false });

export type RenderContext = Record<string, unknown>;

/** Render `text`; `where` names the file or field for the error ("redis/templates/redis.conf.j2"). */
export function render(text: string, ctx: RenderContext, where: string): string {
  try {
    return env.renderString(text, ctx);
  } catch (err) {
    const raw = (err as Error).message;
    // nunjucks: "(unknown path) [Line 3, Column 12]\n  Error: attempted to output null or undefined value"
    const pos = /\[Line (\d+), Column (\d+)\]/.exec(raw);
    const what = raw.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('(unknown path)')).join(' ').replace(/^Error: /, '');
    throw new ProvError('DEFINITION_INVALID', `${where}${pos ? `:${pos[1]}:${pos[2]}` : ''}: template error: ${what}`, {
      hint: /undefined/.test(what) ? 'a variable the template uses is not defined: check the names against the context of models.md §5.3 (server, settings, taskserv, infra, servers, cluster, workspace), or guard it with `is defined`' : 'fix the template syntax (Jinja2)',
      location: { file: where, ...(pos ? { line: Number(pos[1]), column: Number(pos[2]) } : {}) },
    });
  }
}

/** Render every string leaf of a value (check definitions, script env). */
export function renderDeep<T>(value: T, ctx: RenderContext, where: string): T {
  if (typeof value === 'string') return render(value, ctx, where) as T;
  if (Array.isArray(value)) return value.map((v, i) => renderDeep(v, ctx, `${where}[${i}]`)) as T;
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderDeep(v, ctx, `${where}.${k}`)])) as T;
  return value;
}

export interface OsFacts { family: string; version: string; arch: string }

/** The `server` object of the context, from the definition and what the provider recorded. */
export function serverContext(d: DesiredState, hostname: string, rec: ResourceState | undefined, os?: OsFacts): Record<string, unknown> {
  const s = d.servers.find((x) => x.hostname === hostname);
  const addr = rec?.addresses ?? {};
  return {
    hostname, fqdn: s?.fqdn ?? hostname, provider: s?.provider ?? rec?.provider, zone: s?.zone, plan: s?.plan,
    cores: s?.cores, memory_mb: s?.memory_mb, disk_gb: s?.disk_gb, image: s?.image, labels: s?.labels ?? {},
    addresses: { public_ipv4: addr.public_ipv4 ?? [], public_ipv6: addr.public_ipv6 ?? [], private: addr.private ?? [] },
    ...(os ? { os } : {}),
  };
}
