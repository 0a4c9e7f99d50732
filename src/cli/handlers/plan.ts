import { loadDesired } from '../../infra/desired.js';
import { planCluster, planInfra, planServers, planTaskservs, type Plan } from '../../plan/plan.js';
import { readResources } from '../../store/sqlite/read.js';
import type { Invocation, Result } from '../context.js';
import { renderPlan } from '../plan-view.js';

/**
 * Mutating server/taskserv/cluster/infra commands. The plan is computed offline from the
 * definitions and the recorded state (check mode needs no credentials and no network);
 * without --check, handlers/apply.ts carries it out.
 */

async function withPlan(inv: Invocation, compute: (d: Awaited<ReturnType<typeof loadDesired>>, records: ReturnType<typeof readResources>) => Plan): Promise<Result> {
  const cfg = await inv.config({ requireWorkspace: true, requireInfra: !inv.globals.settings });
  const desired = await loadDesired(cfg, { settingsFile: inv.globals.settings, env: inv.io.env });
  for (const w of desired.warnings) inv.warn(`${w.file}${w.line ? `:${w.line}` : ''}: ${w.message}`);
  const records = readResources(desired.workspace.path, desired.workspace.name, desired.infra);
  const plan = compute(desired, records);
  plan.check = inv.globals.check;
  if (!inv.globals.check) {
    const { applyCommand } = await import('./apply.js');
    return applyCommand(inv, cfg, desired, plan);
  }
  return { data: plan, view: { kind: 'text', text: renderPlan(plan, inv.io.stdoutIsTTY && !inv.io.env.NO_COLOR && inv.globals.color !== false) } };
}

const list = (v: unknown) => (Array.isArray(v) ? (v as string[]) : v === undefined ? [] : [String(v)]);
const flag = (inv: Invocation, name: string) => inv.flags[name] === true;

export const server = (inv: Invocation): Promise<Result> => {
  const action = inv.spec.command.split(' ')[1] as 'create' | 'delete' | 'update' | 'start' | 'stop' | 'restart';
  return withPlan(inv, (d, r) => planServers(d, r, {
    action, names: [...new Set([...list(inv.args.name), ...list(inv.flags.servers)])], force: flag(inv, 'force'), keepStorage: flag(inv, 'keep-storage'), allowReplace: flag(inv, 'allow-replace'),
  }));
};

export const taskserv = (inv: Invocation): Promise<Result> => {
  const action = inv.spec.command.split(' ')[1] as 'create' | 'delete' | 'update' | 'configure';
  return withPlan(inv, (d, r) => planTaskservs(d, r, {
    action, names: list(inv.args.name), servers: list(inv.flags.servers), force: flag(inv, 'force'), cleanupData: flag(inv, 'cleanup-data'),
    rolling: flag(inv, 'rolling'), ...(typeof inv.flags.version === 'string' ? { version: inv.flags.version } : {}),
  }));
};

export const cluster = (inv: Invocation): Promise<Result> => {
  const action = inv.spec.command.split(' ')[1] as 'create' | 'delete';
  return withPlan(inv, (d, r) => planCluster(d, r, { action, name: String(inv.args.name) }));
};

export const infra = (inv: Invocation): Promise<Result> => {
  const action = inv.spec.command.split(' ')[1] as 'create' | 'delete';
  return withPlan(inv, (d, r) => planInfra(d, r, { action, keepStorage: flag(inv, 'keep-storage') }));
};
