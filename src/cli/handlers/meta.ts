import { ProvError } from '../../errors/index.js';
import { completionScript } from '../completion.js';
import type { Invocation, Result } from '../context.js';
import { helpDocument, renderHelp, resolveTopic } from '../help.js';
import { cliVersion } from '../main.js';
import { SHORTCUTS, ACTION_SHORTCUTS } from '../registry/index.js';

/** Commands about the CLI itself: help, version, completion, guides. */

export async function help(inv: Invocation): Promise<Result> {
  const words = (inv.args.topic as string[] | undefined) ?? [];
  const topic = resolveTopic(words, inv.flags.all === true);
  if (inv.out === 'json' || inv.out === 'yaml') {
    if (topic.kind === 'command') return { data: topic.spec };
    return { data: helpDocument() };
  }
  return { data: renderHelp(topic), view: { kind: 'text', text: renderHelp(topic) } };
}

export async function version(inv: Invocation): Promise<Result> {
  const data: Record<string, unknown> = { version: cliVersion() };
  if (inv.globals.verbose) Object.assign(data, { node: process.versions.node, platform: `${process.platform}-${process.arch}`, workspace_format: 1 });
  return { data, view: inv.globals.verbose ? { kind: 'kv', entries: Object.entries(data) } : { kind: 'text', text: `provisioning ${cliVersion()}` } };
}

export async function completion(inv: Invocation): Promise<Result> {
  const script = completionScript(String(inv.args.shell));
  return { data: { shell: inv.args.shell, script }, view: { kind: 'text', text: script } };
}

const GUIDES: Record<string, string> = {
  quickstart: `Quickstart
  1. provisioning workspace init demo --template local    create, register and activate a workspace
  2. cd demo && provisioning validate config                check the layered configuration
  3. provisioning config show --origin                      every value and the layer it came from
  4. provisioning server create --check                     the plan: what would change, cost, duration
  5. provisioning server create --yes --wait                real containers on the local provider
  6. provisioning server ssh web-01 -- uname -a             a command inside one of them`,
  'from-scratch': `From scratch
  provisioning workspace init shop --template full
  provisioning env list ; provisioning env switch prod
  provisioning config set execution.parallel_limit 8 --scope workspace
  provisioning config show execution --origin`,
  update: `Updating
  provisioning workspace backup                 archive definitions, config and state
  provisioning workspace migrate --check        the format steps a newer CLI needs
  provisioning workspace migrate --yes          back up, migrate, validate`,
  customize: `Customizing
  config/local-overrides.toml    personal, git-ignored overrides (layer 7)
  PROVISIONING_<SECTION>__<KEY>  one key from the environment (layer 8)
  --set key=value                one key for one command (layer 9)`,
};

export async function guide(inv: Invocation): Promise<Result> {
  const topic = inv.args.topic as string | undefined;
  if (!topic || topic === 'list') {
    const rows = Object.keys(GUIDES).map((g) => [g, GUIDES[g]!.split('\n')[0]]);
    return { data: Object.keys(GUIDES), view: { kind: 'table', columns: ['guide', 'title'], rows } };
  }
  const text = GUIDES[topic];
  if (!text) throw new ProvError('NOT_FOUND', `no guide '${topic}'`, { hint: `guides: ${Object.keys(GUIDES).join(', ')}` });
  return { data: { guide: topic, text }, view: { kind: 'text', text } };
}

export async function shortcuts(_inv: Invocation): Promise<Result> {
  const rows = [
    ...Object.entries(SHORTCUTS).map(([s, exp]) => [s, exp.join(' ')]),
    ...Object.entries(ACTION_SHORTCUTS).map(([s, v]) => [`<area> ${s}`, `<area> ${v}`]),
  ];
  return { data: Object.fromEntries(rows), view: { kind: 'table', columns: ['shortcut', 'expands to'], rows } };
}
