import { ProvError } from '../errors/index.js';
import { closest } from '../cli/suggest.js';
import type { ProviderManifest } from '../model/index.js';
import type { Transports } from '../transport/index.js';
import type { Provider } from './types.js';

/**
 * Provider implementations by name. Core providers are compiled into the package under
 * src/providers/<name> and imported on first use (the AWS SDK is heavy; commands that never
 * touch a provider do not pay for it). Extension providers (a manifest's `[provider] entry`
 * module) are not loaded yet: see docs/providers.md.
 */

export interface ProviderDeps {
  /** the provider's manifest (from the extension catalog): static catalog, pricing, config schema */
  manifest: ProviderManifest;
  /** the merged `[providers.<name>]` config table */
  config: Record<string, unknown>;
  /** the process environment (credentials may come from it) */
  env: Record<string, string | undefined>;
  /** the run's transports (one SSH pool): providers that reach servers themselves (static) use it */
  transports?: Transports;
}

type Factory = (deps: ProviderDeps) => Promise<Provider>;

const CORE: Record<string, Factory> = {
  upcloud: async (deps) => new (await import('./upcloud/index.js')).UpCloudProvider(deps),
  aws: async (deps) => new (await import('./aws/index.js')).AwsProvider(deps),
  static: async (deps) => new (await import('./static/index.js')).StaticProvider(deps),
  local: async (deps) => new (await import('./local/index.js')).LocalProvider(deps),
};

export const CORE_PROVIDERS = Object.keys(CORE);

export async function providerFor(name: string, deps: ProviderDeps): Promise<Provider> {
  const factory = CORE[name];
  if (factory) return factory(deps);
  if (deps.manifest.extension.name === name) {
    throw new ProvError('NOT_IMPLEMENTED', `provider '${name}' has a manifest but no code in this build; loading a provider's entry module ('${deps.manifest.provider.entry}') is not supported yet`, {
      hint: `providers with code: ${CORE_PROVIDERS.join(', ')}`,
    });
  }
  const near = closest(name, CORE_PROVIDERS, 1)[0];
  throw new ProvError('NOT_FOUND', `unknown provider '${name}'`, { hint: near ? `did you mean '${near}'?` : `providers: ${CORE_PROVIDERS.join(', ')}` });
}

export type * from './types.js';
export { systemTags, hasTags, TAG } from './types.js';
