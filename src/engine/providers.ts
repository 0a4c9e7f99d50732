import { ProvError } from '../errors/index.js';
import type { Catalog } from '../extensions/catalog.js';
import type { ProviderManifest, ResolvedServer } from '../model/index.js';
import type { Labels } from '../model/index.js';
import { providerFor, TAG, type Issue, type Provider } from '../providers/index.js';
import type { Transports } from '../transport/index.js';

/**
 * The providers one run talks to, built on first use from their manifest, their
 * `[providers.<name>]` config table and the environment. `preflight` runs before anything
 * changes: the offline checks of every provider involved, then one listing call each, which
 * checks credentials and reachability (an unreachable engine or API stops the run here, with
 * nothing half-done).
 */
export class ProviderSet {
  private readonly built = new Map<string, Promise<Provider>>();

  constructor(
    private readonly catalog: Catalog,
    private readonly config: Record<string, unknown>,
    private readonly env: Record<string, string | undefined>,
    private readonly transports: Transports,
    /** the infra's servers: each provider is shown its own once when built (offline), so it knows per-server logins */
    private readonly servers: ResolvedServer[] = [],
  ) {}

  configOf(name: string): Record<string, unknown> {
    const table = (this.config as Record<string, unknown>)[name];
    return table && typeof table === 'object' ? table as Record<string, unknown> : {};
  }

  get(name: string | undefined): Promise<Provider> {
    if (!name) return Promise.reject(new ProvError('DEFINITION_INVALID', 'a server names no provider and providers.default is empty', { hint: 'set `provider` on the server or infra, or providers.default in config' }));
    let p = this.built.get(name);
    if (!p) {
      const manifest = this.catalog.get('provider', name) as ProviderManifest | undefined;
      p = manifest
        ? providerFor(name, { manifest, config: this.configOf(name), env: this.env, transports: this.transports }).then(async (provider) => {
          const mine = this.servers.filter((s) => s.provider === name);
          if (mine.length) await provider.validate(this.configOf(name), mine); // findings are preflight's business
          return provider;
        })
        : Promise.reject(new ProvError('NOT_FOUND', `unknown provider '${name}'`, { hint: '`provisioning provider list` shows the providers' }));
      this.built.set(name, p);
    }
    return p;
  }

  /** Offline checks of `servers`, then one listing call per provider in `names` (credentials, reachability). */
  async preflight(names: string[], servers: ResolvedServer[], scope: { workspace: string; infra: string }): Promise<string[]> {
    const warnings: string[] = [];
    for (const name of new Set(names)) {
      const provider = await this.get(name);
      const mine = servers.filter((s) => s.provider === name);
      if (mine.length) {
        const issues = await provider.validate(this.configOf(name), mine);
        const errors = issues.filter((i) => i.severity === 'error');
        warnings.push(...issues.filter((i) => i.severity === 'warning').map((i) => `${i.path ? `${i.path}: ` : ''}${i.message}`));
        if (errors.length) throw invalid(name, errors);
      }
      await provider.list(scopeTags(scope.workspace, scope.infra));
    }
    return warnings;
  }
}

function invalid(provider: string, errors: Issue[]): ProvError {
  const first = errors[0]!;
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
  return new ProvError('DEFINITION_INVALID', `${first.path ? `${first.path}: ` : ''}${first.message}${more}`, {
    hint: first.hint ?? `fix the definition; \`provisioning provider validate ${provider}\` checks it offline`,
    details: { provider, errors },
  });
}

/** The tags every object of one infra carries. */
export const scopeTags = (workspace: string, infra: string): Labels => ({ [TAG.workspace]: workspace, [TAG.infra]: infra });
