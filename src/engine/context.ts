/**
 * What a run that touches servers holds open: the state store, the transports (one SSH pool),
 * and the providers. Built the same way for a direct CLI run and, later, the orchestrator.
 */
import { existsSync } from 'node:fs';
import type { Config } from '../config/index.js';
import type { DesiredState } from '../infra/desired.js';
import { connectEngine, resolveSocket } from '../providers/local/engine.js';
import { SqliteStateStore } from '../store/sqlite/state.js';
import type { StateStore } from '../store/types.js';
import { ensureKeyPair, publicKeyLine, sshSettingsFromConfig, Transports, type SshSettings } from '../transport/index.js';
import { ProviderSet } from './providers.js';

export interface RunHandles {
  store: StateStore;
  transports: Transports;
  providers: ProviderSet;
  ssh: SshSettings;
  close(): Promise<void>;
}

export function openRun(cfg: Config, desired: DesiredState, env: Record<string, string | undefined>): RunHandles {
  const store = new SqliteStateStore(desired.workspace.path);
  const ssh = sshSettingsFromConfig((k) => cfg.get(k), env);
  const providersConfig = (cfg.values.providers ?? {}) as Record<string, unknown>;
  const localSocket = (providersConfig.local as { socket?: string } | undefined)?.socket;
  // container exec needs the engine; connected only when a server is reached that way
  let engine: ReturnType<typeof connectEngine> | undefined;
  const transports = new Transports(ssh, () => (engine ??= connectEngine(resolveSocket(localSocket, env))));
  const providers = new ProviderSet(desired.catalog, providersConfig, env, transports, desired.servers);
  return {
    store, transports, providers, ssh,
    async close() {
      await transports.closeAll();
      await store.close();
      if (engine) await engine.then(() => undefined, () => undefined);
    },
  };
}

/**
 * The public keys created servers get: the run's own key (the workspace key is generated on
 * first use) plus `ssh.public_keys`.
 */
export function loginKeys(cfg: Config, ssh: SshSettings, workspace: string): string[] {
  const keys: string[] = [];
  if (ssh.privateKey) {
    if (ssh.workspaceKey) ensureKeyPair(ssh.privateKey, `provisioning workspace ${workspace}`);
    // with ssh-agent and no key file, the agent's keys are the user's business
    if (existsSync(ssh.privateKey) || !ssh.agentSocket) keys.push(publicKeyLine(ssh.privateKey));
  }
  const extra = cfg.get('ssh.public_keys');
  if (Array.isArray(extra)) keys.push(...extra.map(String));
  return [...new Set(keys)];
}
