import type { Plan } from '../plan/plan.js';
import { colors } from './output.js';

/** The human form of a plan (spec/cli.md §7), Terraform-like symbols per action. */
const SYMBOL: Record<string, string> = { create: '+', update: '~', replace: '-/+', delete: '-', noop: ' ' };

export function renderPlan(plan: Plan, color: boolean): string {
  const c = colors(color);
  const paint: Record<string, (s: string) => string> = { create: c.green, update: c.yellow, replace: c.magenta, delete: c.red, noop: c.dim };
  const lines = [`${c.bold(plan.check ? 'Check mode — nothing will be changed' : 'Plan')}   workspace ${plan.workspace} · infra ${plan.infra} · env ${plan.environment}`, ''];
  const rows = plan.changes.map((ch) => [
    String(ch.order), `${SYMBOL[ch.action]} ${ch.action}`, ch.resource_type,
    ch.name + (ch.server ? ` on ${ch.server}` : ''),
    [detailText(ch.details), ch.reason].filter(Boolean).join(' · ') + (ch.depends_on.length ? ` · after ${ch.depends_on.join(',')}` : ''),
  ]);
  const head = ['#', 'action', 'kind', 'name', 'details'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((x, i) => (i === r.length - 1 ? x : x.padEnd(widths[i]!))).join('  ');
  lines.push(`  ${c.bold(fmt(head))}`);
  plan.changes.forEach((ch, i) => {
    lines.push(`  ${paint[ch.action]!(fmt(rows[i]!))}`);
    for (const [k, v] of Object.entries(ch.diff ?? {})) lines.push(`      ${c.yellow('~')} ${k}: ${JSON.stringify(v.from)} → ${JSON.stringify(v.to)}`);
    if (ch.blocked) lines.push(`      ${c.red('✗ blocked:')} ${ch.blocked}`);
  });
  if (plan.changes.length === 0) lines.push('  (no resources in scope)');
  for (const w of plan.warnings) lines.push(`${c.yellow('warning:')} ${w}`);
  const s = plan.summary;
  const cost = plan.estimated_cost ? ` · est. ${plan.estimated_cost.monthly.toFixed(2)} ${plan.estimated_cost.currency}/month` : '';
  const dur = plan.estimated_duration_s ? ` · ~${Math.max(1, Math.round(plan.estimated_duration_s / 60))} min` : '';
  const blocked = plan.changes.filter((x) => x.blocked).length;
  lines.push('', `${c.bold('Plan:')} ${s.create} to create, ${s.update} to update, ${s.replace} to replace, ${s.delete} to delete${cost}${dur}${blocked ? c.red(` · ${blocked} blocked`) : ''}`);
  return lines.join('\n') + '\n';
}

function detailText(d: Record<string, unknown>): string {
  const parts: string[] = [];
  if (d.provider) parts.push(String(d.provider));
  if (d.plan) parts.push(String(d.plan));
  if (d.cores) parts.push(`${d.cores} cpu`);
  if (typeof d.memory_mb === 'number') parts.push(d.memory_mb >= 1024 ? `${+(d.memory_mb / 1024).toFixed(1)} GiB` : `${d.memory_mb} MiB`);
  if (d.disk_gb) parts.push(`${d.disk_gb} GiB`);
  if (d.image) parts.push(String(d.image));
  if (d.version) parts.push(`v${d.version}`);
  if (d.power) parts.push(String(d.power));
  if (d.volumes === 'kept' || d.volumes === 'destroyed') parts.push(`volumes ${d.volumes}`);
  return parts.join(' · ');
}
