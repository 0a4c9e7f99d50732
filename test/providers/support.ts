import { loadCatalog } from '../../src/extensions/catalog.js';
import type { ProviderManifest, ResolvedServer } from '../../src/model/index.js';

/** The core provider manifest as the extension catalog reads it. */
export function coreManifest(name: string): ProviderManifest {
  const m = loadCatalog().get('provider', name);
  if (!m) throw new Error(`no core provider manifest ${name}`);
  return m as ProviderManifest;
}

/** A resolved server with the defaults resolution fills in. */
export function server(hostname: string, over: Partial<ResolvedServer> = {}): ResolvedServer {
  return {
    hostname, fqdn: hostname, disk_gb: 20, labels: {}, storage: [],
    network: { public_ipv4: true, public_ipv6: false, private: [], firewall: [{ direction: 'in', protocol: 'tcp', port: 22, source: '0.0.0.0/0', action: 'allow' }] },
    ssh: {}, taskservs: [], protected: false, time_zone: 'UTC', running_timeout_s: 600,
    ...over,
  };
}

/** Everything an error carries, as one string: message, hint, details, cause chain, JSON form. */
export function everything(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let i = 0; e && i < 5; i++) {
    const x = e as { message?: string; hint?: string; details?: unknown; stack?: string; toJSON?: () => unknown };
    parts.push(String(x.message), String(x.hint), JSON.stringify(x.details ?? {}), String(x.stack));
    if (typeof x.toJSON === 'function') parts.push(JSON.stringify(x.toJSON()));
    e = (e as { cause?: unknown }).cause;
  }
  return parts.join('\n');
}
