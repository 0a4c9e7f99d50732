import { inspect } from 'node:util';
import { ProvError } from '../errors/index.js';
import { envVarOf } from '../extensions/inspect.js';

/**
 * Provider credentials, read from the provider's config table, else the environment, and
 * checked before any call. Values never leave this object in printable form: inspecting or
 * serialising it shows `<redacted>`, and `scrub` removes them from text that came back from
 * a remote end.
 */

export interface CredentialKey {
  /** key inside `[providers.<name>]`: "password" */
  key: string;
  /** the provider's own variables, accepted after ours: ["UPCLOUD_PASSWORD"] */
  env?: string[];
}

export class Credentials {
  readonly #values: Map<string, string>;

  constructor(values: Map<string, string>) {
    this.#values = values;
  }

  get(key: string): string {
    const v = this.#values.get(key);
    if (v === undefined) throw new Error(`credential ${key} was not read`);
    return v;
  }

  /** Replace every credential value inside `text` (error bodies may echo what was sent). */
  scrub(text: string): string {
    let out = text;
    for (const v of this.#values.values()) if (v.length >= 4) out = out.split(v).join('<redacted>');
    return out;
  }

  toJSON(): string {
    return '<redacted>';
  }

  [inspect.custom](): string {
    return 'Credentials <redacted>';
  }
}

type Env = Record<string, string | undefined>;

function pick(config: Record<string, unknown>, env: Env, provider: string, k: CredentialKey): string | undefined {
  const fromConfig = config[k.key];
  if (typeof fromConfig === 'string' && fromConfig !== '') return fromConfig;
  if (fromConfig !== undefined && fromConfig !== '' && typeof fromConfig !== 'string') {
    throw new ProvError('CONFIG_INVALID', `providers.${provider}.${k.key} is not a plain string`, {
      location: { resource: `providers.${provider}.${k.key}` },
      hint: 'an encrypted value must be decrypted by the config loader; set the key or its environment variable',
    });
  }
  for (const name of [envVarOf(`providers.${provider}.${k.key}`), ...(k.env ?? [])]) {
    const v = env[name];
    if (v !== undefined && v !== '') return v;
  }
  return undefined;
}

/** All the keys, or AUTH_REQUIRED naming every missing config key and its variables. */
export function readCredentials(provider: string, config: Record<string, unknown>, env: Env, keys: CredentialKey[]): Credentials {
  const values = new Map<string, string>();
  const missing: CredentialKey[] = [];
  for (const k of keys) {
    const v = pick(config, env, provider, k);
    if (v === undefined) missing.push(k);
    else values.set(k.key, v);
  }
  if (missing.length) {
    const names = missing.map((k) => {
      const vars = [envVarOf(`providers.${provider}.${k.key}`), ...(k.env ?? [])];
      return `providers.${provider}.${k.key} (or ${vars.join(' / ')})`;
    });
    throw new ProvError('AUTH_REQUIRED', `${provider} credentials missing: ${names.join(', ')}`, {
      location: { resource: `providers.${provider}` },
      hint: `set them with 'provisioning config set providers.${provider}.${missing[0]!.key} …' or export the environment variable; check mode needs no credentials`,
      details: { missing: missing.map((k) => `providers.${provider}.${k.key}`) },
    });
  }
  return new Credentials(values);
}
