/**
 * Inventory (spec/api.md §3.6): the workspace's infra definitions beside what the state store
 * records, read-only; nothing here calls a provider. A defined server without a record is
 * `planned`. Definitions are read afresh on each request, so edits show at once.
 */
import type { FastifyInstance } from 'fastify';
import * as z from 'zod';
import { infraIndexer } from '../../engine/host.js';
import { notFound } from '../../engine/control.js';
import { ProvError } from '../../errors/index.js';
import { readResources } from '../../store/sqlite/read.js';
import type { ResourceState } from '../../store/types.js';
import { closest } from '../../cli/suggest.js';
import { authorize } from '../auth.js';
import type { Ctx } from '../context.js';
import { Q, ok, parseWith } from '../http.js';

const Query = z.strictObject({ workspace: Q.str });

const ip = (r: ResourceState) => r.addresses?.public_ipv4?.[0] ?? r.addresses?.private?.[0]?.ip ?? null;
const applied = (r: ResourceState | undefined, k: string) => ((r?.applied ?? {}) as Record<string, unknown>)[k] ?? null;
const latest = (rs: ResourceState[]) => rs.reduce<string | null>((m, r) => (m === null || r.updated_at > m ? r.updated_at : m), null);

export function infraRoutes(app: FastifyInstance, ctx: Ctx): void {
  const workspaceOf = (q: z.infer<typeof Query>) => {
    if (q.workspace !== undefined && q.workspace !== ctx.workspace) throw notFound('workspace', q.workspace);
  };

  /** The infra's index and records; 404 with a suggestion for an unknown one. */
  async function infra(name: string) {
    const idx = infraIndexer(ctx.workspacePath, ctx.env);
    if (!idx.names.includes(name)) {
      const near = closest(name, idx.names, 1)[0];
      throw new ProvError('NOT_FOUND', `no infra ${name} in workspace ${ctx.workspace}`, { details: { resource_type: 'infra', id: name, ...(near ? { did_you_mean: near } : {}) } });
    }
    const def = (await idx.load(name))!;
    return { def, records: readResources(ctx.workspacePath, ctx.workspace, name) };
  }

  function servers(def: Awaited<ReturnType<typeof infra>>['def'], records: ResourceState[]) {
    const names = [...new Set([...def.servers.map((s) => s.name), ...records.filter((r) => r.kind === 'server').map((r) => r.name)])];
    return names.map((n) => {
      const rec = records.find((r) => r.kind === 'server' && r.name === n);
      const d = def.servers.find((s) => s.name === n);
      const id = `server:${def.name}/${n}`;
      return {
        name: n, provider: rec?.provider ?? d?.provider ?? null, status: rec?.status ?? 'planned', ip: rec ? ip(rec) : null, plan: applied(rec, 'plan'), zone: applied(rec, 'zone'),
        taskservs: [...new Set([...(d?.taskservs ?? []), ...records.filter((r) => r.kind === 'taskserv' && r.parent === id).map((r) => r.name)])].map((t) => {
          const tr = records.find((r) => r.kind === 'taskserv' && r.parent === id && r.name === t);
          return { name: t, version: tr?.version ?? null, status: tr?.status ?? 'planned' };
        }),
        last_workflow_id: rec?.last_workflow_id ?? null, updated_at: rec?.updated_at ?? null,
      };
    });
  }

  app.get('/api/v1/infra', async (req, reply) => {
    workspaceOf(parseWith(Query, req.query, 'query'));
    authorize(req, 'infra:read');
    const idx = infraIndexer(ctx.workspacePath, ctx.env);
    const out = [];
    for (const name of idx.names) {
      const records = readResources(ctx.workspacePath, ctx.workspace, name);
      try {
        const def = (await idx.load(name))!;
        out.push({ workspace: ctx.workspace, name, environment: def.environment, providers: [...new Set(def.servers.map((s) => s.provider).filter(Boolean))], servers: def.servers.length, updated_at: latest(records) });
      } catch (e) {
        // an infra whose definitions do not load is still listed, with why
        out.push({ workspace: ctx.workspace, name, environment: null, providers: [], servers: null, updated_at: latest(records), error: { code: (e as ProvError).code ?? 'INTERNAL', message: (e as Error).message } });
      }
    }
    return ok(reply, out);
  });

  app.get<{ Params: { infra: string } }>('/api/v1/infra/:infra/servers', async (req, reply) => {
    workspaceOf(parseWith(Query, req.query, 'query'));
    authorize(req, 'server:read', { type: 'Infra', id: req.params.infra });
    const { def, records } = await infra(req.params.infra);
    return ok(reply, servers(def, records));
  });

  app.get<{ Params: { infra: string; name: string } }>('/api/v1/infra/:infra/servers/:name', async (req, reply) => {
    workspaceOf(parseWith(Query, req.query, 'query'));
    authorize(req, 'server:read', { type: 'Server', id: `${req.params.infra}/${req.params.name}` });
    const { def, records } = await infra(req.params.infra);
    const s = servers(def, records).find((x) => x.name === req.params.name);
    if (!s) throw notFound('server', `${req.params.infra}/${req.params.name}`);
    const id = `server:${def.name}/${s.name}`;
    const resources = records.filter((r) => r.id === id || r.parent === id).map((r) => ({ provider: r.provider ?? '', type: r.kind, id: r.provider_id ?? r.id, name: r.name, infra: r.infra }));
    return ok(reply, { ...s, resources });
  });

  app.get<{ Params: { infra: string } }>('/api/v1/infra/:infra/taskservs', async (req, reply) => {
    workspaceOf(parseWith(Query, req.query, 'query'));
    authorize(req, 'taskserv:read', { type: 'Infra', id: req.params.infra });
    const { def, records } = await infra(req.params.infra);
    const rows = servers(def, records).flatMap((s) => s.taskservs.map((t) => ({ ...t, server: s.name })));
    const names = [...new Set(rows.map((r) => r.name))];
    return ok(reply, names.map((n) => {
      const on = rows.filter((r) => r.name === n);
      return {
        name: n, version: on.find((r) => r.version)?.version ?? null,
        servers: on.map((r) => ({ server: r.server, status: r.status, verified_at: records.find((x) => x.kind === 'taskserv' && x.name === n && x.parent === `server:${def.name}/${r.server}`)?.observed?.at ?? null })),
      };
    }));
  });

  app.get<{ Params: { infra: string } }>('/api/v1/infra/:infra/clusters', async (req, reply) => {
    workspaceOf(parseWith(Query, req.query, 'query'));
    authorize(req, 'cluster:read', { type: 'Infra', id: req.params.infra });
    const { def, records } = await infra(req.params.infra);
    const recs = records.filter((r) => r.kind === 'cluster');
    const names = [...new Set([...def.clusters, ...recs.map((r) => r.name)])];
    return ok(reply, names.map((n) => {
      const r = recs.find((x) => x.name === n);
      return { name: n, status: r?.status ?? 'planned', taskservs: applied(r, 'taskservs') ?? [], servers: applied(r, 'servers') ?? [], updated_at: r?.updated_at ?? null };
    }));
  });
}
