/**
 * Server operations: what each server change of a plan does at its provider, and the state
 * record written after it. Every write tells the truth about the provider: a record says
 * `creating` from before the provider call until the server is seen running, so a run killed in
 * between leaves a trace, and the next run first asks the provider for a server with the same
 * system tags and adopts it instead of creating a second one.
 */
import { ProvError, asProvError } from '../errors/index.js';
import type { DesiredServer, DesiredState } from '../infra/desired.js';
import { hasTags, systemTags, TAG, type Observed, type Provider } from '../providers/index.js';
import type { ResourceState, StateStore } from '../store/types.js';
import type { Transports } from '../transport/index.js';
import type { ProviderSet } from './providers.js';

export interface ServerContext {
  desired: DesiredState;
  store: StateStore;
  providers: ProviderSet;
  transports: Transports;
  /** the command line's command, recorded in the history: `server create` */
  command: string;
  /** public keys installed for the login user of created servers */
  publicKeys: string[];
  /** after create/start, also wait until the server answers over its transport (`--wait`) */
  waitReachable: boolean;
  progress(name: string, message: string): void;
}

const now = () => new Date().toISOString();

/** The record of a server as the provider showed it. */
export function serverRecord(d: DesiredState, name: string, prev: ResourceState | undefined, o: {
  spec?: DesiredServer; provider?: string; observed?: Observed; status: string;
}): ResourceState {
  const at = now();
  const obs = o.observed;
  return {
    id: `server:${d.infra}/${name}`,
    kind: 'server',
    workspace: d.workspace.name,
    infra: d.infra,
    name,
    provider: o.provider ?? o.spec?.provider ?? prev?.provider,
    ...(obs?.provider_id ?? prev?.provider_id ? { provider_id: obs?.provider_id ?? prev?.provider_id } : {}),
    ...(obs ? { addresses: { public_ipv4: obs.addresses.public_ipv4, public_ipv6: obs.addresses.public_ipv6, private: obs.addresses.private } } : prev?.addresses ? { addresses: prev.addresses } : {}),
    status: o.status,
    tags: obs?.tags ?? prev?.tags ?? systemTags(d.workspace.name, d.infra, name),
    checksum: o.spec?.checksum ?? prev?.checksum ?? '',
    applied: o.spec ? JSON.parse(JSON.stringify(o.spec)) as Record<string, unknown> : prev?.applied ?? {},
    ...(obs ? { observed: { at, data: obs as unknown as Record<string, unknown> } } : prev?.observed ? { observed: prev.observed } : {}),
    generation: (prev?.generation ?? 0) + 1,
    created_at: prev?.created_at ?? at,
    updated_at: at,
    ...(o.status === 'deleted' ? { deleted_at: at } : {}),
  };
}

/** Wait until the server runs a trivial command over its transport, retrying until its running timeout. */
async function waitReachable(ctx: ServerContext, provider: Provider, obs: Observed, timeoutS: number, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutS * 1000;
  for (let attempt = 1; ; attempt++) {
    try {
      const t = await ctx.transports.open(provider.connect(obs));
      const r = await t.exec(['true'], { timeoutMs: 30_000, sudo: false, signal });
      if (r.code === 0) return;
      throw new ProvError('COMMAND_FAILED', `\`true\` exited with ${r.code} on ${t.target}`);
    } catch (err) {
      const e = asProvError(err);
      // a refused key or a changed host key will not fix itself by waiting
      if (e.code === 'AUTH_REQUIRED' || e.code === 'INTERRUPTED' || signal.aborted || Date.now() > deadline) throw e;
      if (attempt === 1) ctx.progress(obs.tags[TAG.name] ?? obs.provider_id, 'waiting until it answers');
      await new Promise((r) => setTimeout(r, Math.min(2000, 250 * attempt)));
    }
  }
}

export async function createServer(ctx: ServerContext, s: DesiredServer, signal: AbortSignal): Promise<Observed> {
  const d = ctx.desired;
  const id = `server:${d.infra}/${s.hostname}`;
  const provider = await ctx.providers.get(s.provider);
  const tags = { ...s.labels, ...systemTags(d.workspace.name, d.infra, s.hostname) };
  let prev = await ctx.store.getResource(id);
  const record = async (status: string, observed: Observed | undefined, action: 'create' | 'observe') => {
    const rec = serverRecord(d, s.hostname, prev, { spec: s, observed, status });
    await ctx.store.applyChanges([{ record: rec, action, command: ctx.command }]);
    prev = rec;
  };
  await record('creating', undefined, 'observe');
  let obs: Observed | undefined;
  try {
    obs = (await provider.find({ ...(prev?.provider_id ? { provider_id: prev.provider_id } : {}), tags: systemTags(d.workspace.name, d.infra, s.hostname) })) ?? undefined;
    if (obs && !hasTags(obs.tags, { [TAG.workspace]: d.workspace.name })) obs = undefined;
    if (obs) {
      ctx.progress(s.hostname, `adopting ${obs.provider_id} (left by an interrupted run)`);
      if (obs.status === 'stopped') {
        try {
          await provider.power({ provider_id: obs.provider_id }, 'start');
        } catch (err) {
          // a create killed in the middle of its start can leave an object that never starts: it
          // is ours and half-made, so it is replaced (its volumes are kept)
          ctx.progress(s.hostname, `${obs.provider_id} does not start (${asProvError(err).message}): replacing it`);
          await provider.delete({ provider_id: obs.provider_id }, { keep_storage: true });
          obs = undefined;
        }
      }
    }
    if (!obs) {
      ctx.progress(s.hostname, `creating at ${provider.name}`);
    }
    obs ??= await provider.create(s, { tags, ssh_public_keys: ctx.publicKeys, wait: true, signal, progress: (m) => ctx.progress(s.hostname, m) });
    await record('creating', obs, 'observe');
    if (ctx.waitReachable) await waitReachable(ctx, provider, obs, s.running_timeout_s, signal);
    const seen = (await provider.find({ provider_id: obs.provider_id, tags: systemTags(d.workspace.name, d.infra, s.hostname) })) ?? obs;
    await record(seen.status, seen, 'create');
    return seen;
  } catch (err) {
    // record what exists: the provider may have made the server before the failure
    const found = await provider.find({ ...(obs ? { provider_id: obs.provider_id } : {}), tags: systemTags(d.workspace.name, d.infra, s.hostname) }).catch(() => obs ?? null);
    await record(found ? (found.status === 'running' ? 'error' : found.status) : 'failed', found ?? undefined, 'observe').catch(() => undefined);
    const e = asProvError(err);
    Object.assign(e.details, { server: s.hostname, exists_at_provider: Boolean(found), ...(found ? { provider_id: found.provider_id } : {}) });
    throw e;
  }
}

export async function deleteServer(ctx: ServerContext, rec: ResourceState, keepStorage: boolean): Promise<void> {
  const d = ctx.desired;
  if (rec.provider) {
    const provider = await ctx.providers.get(rec.provider);
    // A recorded id is ours (it was made under our tags) and delete is idempotent at every
    // provider; a half-created server has no id recorded yet, and its tags find it.
    let target = rec.provider_id;
    if (!target) {
      const obs = await provider.find({ tags: systemTags(d.workspace.name, d.infra, rec.name) });
      if (obs && hasTags(obs.tags, { [TAG.workspace]: d.workspace.name })) target = obs.provider_id;
    }
    if (target) {
      ctx.progress(rec.name, `deleting ${target} at ${provider.name}${keepStorage ? ' (volumes kept)' : ''}`);
      await provider.delete({ provider_id: target }, { keep_storage: keepStorage });
    } else {
      ctx.progress(rec.name, 'nothing at the provider');
    }
  }
  await ctx.store.applyChanges([{ record: serverRecord(d, rec.name, rec, { status: 'deleted' }), action: 'delete', command: ctx.command }]);
}

export async function powerServer(ctx: ServerContext, rec: ResourceState, action: 'start' | 'stop' | 'restart', signal: AbortSignal): Promise<Observed> {
  const d = ctx.desired;
  if (!rec.provider || !rec.provider_id) throw new ProvError('NOT_FOUND', `${rec.name} has no provider id recorded`, { hint: 'run `provisioning server create` first' });
  const provider = await ctx.providers.get(rec.provider);
  ctx.progress(rec.name, `${action} at ${provider.name}`);
  await provider.power({ provider_id: rec.provider_id }, action);
  let obs = await provider.find({ provider_id: rec.provider_id, tags: systemTags(d.workspace.name, d.infra, rec.name) });
  if (!obs) throw new ProvError('NOT_FOUND', `${rec.name} (${rec.provider_id}) is gone at ${rec.provider}`, { hint: '`provisioning server list --refresh` records it as missing' });
  if (action !== 'stop' && ctx.waitReachable) {
    await waitReachable(ctx, provider, obs, (rec.applied as { running_timeout_s?: number }).running_timeout_s ?? 600, signal);
    obs = (await provider.find({ provider_id: rec.provider_id, tags: obs.tags })) ?? obs;
  }
  await ctx.store.applyChanges([{ record: serverRecord(d, rec.name, rec, { observed: obs, status: obs.status }), action: 'update', command: ctx.command }]);
  return obs;
}
