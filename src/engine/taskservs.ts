/**
 * The taskserv contract of models.md §5.3, run on one server through its transport:
 *
 *   deploy  = install → upload rendered templates → configure → start → readiness → smoke
 *   update  = templates → configure → restart (settings), or upgrade|install first (version)
 *   noop    = the `check` script; 0 → nothing to do, 10/11/12 → install/upgrade/reconfigure
 *   remove  = stop → uninstall → the taskserv's state directory removed
 *
 * Success is recorded only after the last smoke check passes. A failure names the server, the
 * step (`install`, `readiness:tcp-1`, `smoke:set-get`), the command, its exit code, the last 20
 * lines of output and the manifest's hint, and is written into the taskserv's record too.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProvError, asProvError } from '../errors/index.js';
import { taskservOn, type DesiredState, type DesiredTaskserv } from '../infra/desired.js';
import { parseDuration, isSecretRef, type Check, type TaskservManifest } from '../model/index.js';
import type { Observed } from '../providers/index.js';
import type { ResourceState } from '../store/types.js';
import type { Transport } from '../transport/index.js';
import { checkName, runCheck } from './checks.js';
import { render, renderDeep, serverContext, type OsFacts, type RenderContext } from './render.js';
import type { ServerContext } from './servers.js';

export const STATE_DIR = '/var/lib/provisioning/taskservs';
const SCRIPT_TIMEOUT_S = 600;
const CHECK_TIMEOUT_S = 60;

export type Step = 'install' | 'configure' | 'start' | 'check' | 'uninstall' | 'stop' | 'restart' | 'upgrade';

/** What a run knows per server: its transport and OS facts, found once. */
export class ServerSessions {
  private readonly open = new Map<string, Promise<{ t: Transport; os: OsFacts; rec: ResourceState }>>();

  constructor(private readonly ctx: ServerContext) {}

  /** The infra's server records by hostname, read at each bind (servers created earlier in the run included). */
  async serverRecords(): Promise<Map<string, ResourceState>> {
    const d = this.ctx.desired;
    return new Map((await this.ctx.store.listResources({ workspace: d.workspace.name, infra: d.infra, kind: 'server' })).map((r) => [r.name, r]));
  }

  get(hostname: string): Promise<{ t: Transport; os: OsFacts; rec: ResourceState }> {
    let p = this.open.get(hostname);
    if (!p) {
      p = this.connect(hostname);
      this.open.set(hostname, p);
      p.catch(() => this.open.delete(hostname));
    }
    return p;
  }

  private async connect(hostname: string) {
    const d = this.ctx.desired;
    const rec = await this.ctx.store.getResource(`server:${d.infra}/${hostname}`);
    if (!rec || !['running', 'error'].includes(rec.status) || !rec.provider || !rec.observed) {
      throw new ProvError('NOT_FOUND', `server ${hostname} is ${rec ? rec.status : 'not created'}: taskservs need a running server`, { hint: `\`provisioning server create ${hostname}\` (or \`server start\`) first` });
    }
    const provider = await this.ctx.providers.get(rec.provider);
    let t: Transport;
    let out = '';
    try {
      t = await this.ctx.transports.open(provider.connect(rec.observed.data as unknown as Observed));
      await t.exec(['sh', '-c', '. /etc/os-release 2>/dev/null || . /usr/lib/os-release 2>/dev/null; printf "%s\\n%s\\n%s\\n" "${ID:-unknown}" "${VERSION_ID:-}" "$(uname -m)"'], { sudo: false, timeoutMs: 30_000, onStdout: (b) => { out += b.toString('utf8'); } });
    } catch (err) {
      const e = asProvError(err);
      // a refused key or changed host key says what to do itself; anything else is "is it up?"
      if (e.code === 'AUTH_REQUIRED' || e.code === 'HOST_KEY_CHANGED') throw e;
      throw new ProvError('UNAVAILABLE', `server ${hostname} is not reachable: ${e.message}`, {
        hint: `is it running? \`provisioning server list --refresh\` shows its state; \`provisioning server start ${hostname}\``, details: { server: hostname }, cause: err,
      });
    }
    const [family, version, arch] = out.split('\n');
    return { t, os: { family: family || 'unknown', version: version ?? '', arch: arch ?? '' }, rec };
  }
}

/** A step failure with everything a person needs to act on it. */
export function stepFailure(o: { server: string; taskserv: string; step: string; command: string; exit_code?: number; detail?: string; stdout_tail?: string[]; stderr_tail?: string[]; hint?: string; code?: string }): ProvError {
  const tail = [...(o.stderr_tail ?? []), ...(o.stdout_tail ?? [])].slice(-20);
  return new ProvError(o.code ?? (o.step.startsWith('smoke') ? 'SMOKE_TEST_FAILED' : 'COMMAND_FAILED'),
    `${o.taskserv} on ${o.server}: step ${o.step} failed: ${o.detail ?? `exit code ${o.exit_code}`} (${o.command})`, {
      ...(o.hint ? { hint: o.hint } : {}),
      details: { server: o.server, taskserv: o.taskserv, step: o.step, command: o.command, ...(o.exit_code !== undefined ? { exit_code: o.exit_code } : {}), output_tail: tail },
    });
}

/**
 * A secret setting that is still a reference (`{{kms.decrypt("…")}}`, `ENC[…]`) cannot reach a
 * server: it would arrive as that literal text. Decrypting lands with the KMS issue; until then
 * the run stops before anything happens on the server.
 */
function refuseUnresolvedSecrets(ts: DesiredTaskserv, host: string): void {
  const refs = Object.entries(flatten(ts.settings)).filter(([, v]) => isSecretRef(v)).map(([k]) => k);
  if (refs.length) {
    throw new ProvError('KMS_NOT_CONFIGURED', `${ts.name} on ${host}: setting ${refs.map((r) => `settings.${r}`).join(', ')} is an encrypted secret reference, and decrypting secrets is not available yet (it arrives with the KMS/secrets issue); nothing was run`, {
      hint: `leave the secret unset for now if the taskserv allows it (\`provisioning taskserv show ${ts.name}\`), or wait for KMS support`,
      details: { server: host, taskserv: ts.name, settings: refs },
    });
  }
}

const flatten = (o: Record<string, unknown>, prefix = ''): Record<string, unknown> => Object.fromEntries(Object.entries(o).flatMap(([k, v]) =>
  (v && typeof v === 'object' && !Array.isArray(v) ? Object.entries(flatten(v as Record<string, unknown>, `${prefix}${k}.`)) : [[`${prefix}${k}`, v]])));

/** Settings with secret leaves replaced by "<secret>", for records and logs. */
function redacted(settings: Record<string, unknown>, secretPaths: string[]): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(settings)) as Record<string, unknown>;
  for (const p of secretPaths) {
    const parts = p.split('.');
    let o: Record<string, unknown> | undefined = copy;
    for (const k of parts.slice(0, -1)) o = o?.[k] as Record<string, unknown> | undefined;
    if (o && parts.at(-1)! in o) o[parts.at(-1)!] = '<secret>';
  }
  return copy;
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

interface Rendered { target: string; text: string; mode: number; owner?: string }

/** One taskserv bound to one server for a run: what its steps and checks need. */
export interface Bound {
  /** scripts and templates rendered before anything runs: a render error changes nothing */
  scripts: Partial<Record<Step, string>>;
  files: Rendered[];
  t: Transport;
  host: string;
  ts: DesiredTaskserv;
  m: TaskservManifest;
  dir: string;
  rctx: RenderContext;
  /** the 0600 settings file of PROV_SETTINGS: written for each step and removed after it */
  settingsFile: string;
  signal: AbortSignal;
  observed: Record<string, unknown>;
  progress(message: string): void;
}
type Run = Bound;

/** The render context of models.md §5.3 for one taskserv on one server. */
function renderContext(d: DesiredState, host: string, records: Map<string, ResourceState>, os: OsFacts, ts: DesiredTaskserv, cluster?: string): RenderContext {
  const servers = new Map(d.servers.map((s) => [s.hostname, serverContext(d, s.hostname, records.get(s.hostname))]));
  const cl = cluster ? d.clusters.find((c) => c.name === cluster) : undefined;
  return {
    server: serverContext(d, host, records.get(host), os),
    settings: ts.settings,
    taskserv: { name: ts.name, version: ts.version, profile: ts.profile },
    infra: { name: d.infra, environment: d.environment, domain: d.settings.network?.domain ?? '', labels: d.settings.labels ?? {} },
    servers: [...servers.values()],
    workspace: { name: d.workspace.name },
    // members are server objects (hostname, addresses, …), per component
    ...(cl ? { cluster: { name: cl.name, settings: cl.settings, members: Object.fromEntries(cl.components.map((c) => [c.name, c.servers.map((h) => servers.get(h)!)])) } } : {}),
  };
}

/**
 * Bind a taskserv to a server: its manifest from the winning catalog layer, the server's
 * transport, and every script and template rendered (so a render error changes nothing).
 * `ts` defaults to the desired taskserv; commands acting on an installation pass what it runs.
 */
export async function bindTaskserv(ctx: ServerContext, sessions: ServerSessions, o: { host: string; name: string; cluster?: string; ts?: DesiredTaskserv; signal?: AbortSignal }): Promise<Bound> {
  const d = ctx.desired;
  const cand = d.catalog.winner('taskserv', o.name);
  if (!cand || cand.problem || !cand.manifest) {
    throw new ProvError(cand ? 'DEFINITION_INVALID' : 'NOT_FOUND', `taskserv '${o.name}' is ${cand ? `unusable: ${cand.problem}` : 'not in the catalog'}: its scripts and checks are unknown`, {
      hint: cand ? `\`provisioning validate extension ${cand.dir}\`` : 'restore the extension, or `provisioning taskserv list --available` for the catalog',
    });
  }
  const m = cand.manifest as TaskservManifest;
  const ts = o.ts ?? taskservOn(d, o.host, o.name, o.cluster);
  refuseUnresolvedSecrets(ts, o.host);
  const { t, os } = await sessions.get(o.host);
  const rctx = renderContext(d, o.host, await sessions.serverRecords(), os, ts, o.cluster);
  return {
    t, host: o.host, ts, m, dir: cand.dir, rctx, ...renderAll(m, cand.dir, ts, rctx),
    settingsFile: `${STATE_DIR}/${ts.name}/.settings-${randomUUID()}.json`,
    signal: o.signal ?? new AbortController().signal, observed: {}, progress: (message) => ctx.progress(o.host, message),
  };
}

/**
 * One round trip per step: the script and the settings travel as environment values (on the
 * command's stdin, never in argv: remote.ts), are written 0700/0600, taken out of the
 * environment, and the step runs; the settings file is removed when it ends, whatever happened.
 */
const STAGE_AND_RUN = `d=$1 f=$2; shift 2
umask 077; mkdir -p "$d"
printf '%s' "$PROV_STEP_SCRIPT" > "$f"; chmod 700 "$f"
printf '%s' "$PROV_SETTINGS_JSON" > "$PROV_SETTINGS"
unset PROV_STEP_SCRIPT PROV_SETTINGS_JSON
trap 'rm -f "$PROV_SETTINGS"' EXIT
"$@" "$f"`;

/** Run one (pre-rendered) script step; returns its exit code (throws on anything but `allow`ed codes). A missing step is a no-op. */
export async function runStep(run: Bound, step: Step, allow: number[] = [0], extraEnv: Record<string, string> = {}): Promise<number> {
  const def = run.m.scripts?.[step];
  const text = run.scripts[step];
  if (!def || text === undefined) return 0;
  const where = `${run.ts.name}/${def.run ?? `scripts.${step}.inline`}`;
  const dir = `${STATE_DIR}/${run.ts.name}`;
  const path = `${dir}/${step}.sh`;
  const shell = def.shell ? def.shell.split(/\s+/) : ['/bin/sh', '-eu'];
  const env = {
    ...renderDeep(def.env ?? {}, run.rctx, `${where} env`), ...extraEnv,
    PROV_STEP: step, PROV_TASKSERV: run.ts.name, PROV_VERSION: run.ts.version, PROV_SERVER: run.host, PROV_SETTINGS: run.settingsFile,
    PROV_STEP_SCRIPT: text, PROV_SETTINGS_JSON: JSON.stringify(run.ts.settings),
  };
  const timeoutS = def.timeout !== undefined ? parseDuration(def.timeout) ?? SCRIPT_TIMEOUT_S : step === 'check' ? CHECK_TIMEOUT_S : SCRIPT_TIMEOUT_S;
  let lastOut = '';
  for (let attempt = 0; ; attempt++) {
    let out = '';
    const r = await run.t.exec(['sh', '-c', STAGE_AND_RUN, 'prov-step', dir, path, ...shell], {
      env, timeoutMs: timeoutS * 1000, signal: run.signal, ...(def.sudo === false ? { sudo: false } : {}),
      onStdout: (b) => { out += b.toString('utf8'); },
    }).catch((err: unknown) => {
      const e = asProvError(err);
      if (e.code === 'TIMEOUT') throw stepFailure({ server: run.host, taskserv: run.ts.name, step, command: `${shell.join(' ')} ${path}`, detail: `timed out after ${timeoutS}s (the remote process group was killed)`, stdout_tail: e.details.stdout_tail as string[] | undefined, stderr_tail: e.details.stderr_tail as string[] | undefined, hint: def.hint ?? `raise scripts.${step}.timeout in the manifest if the step is just slow`, code: 'TIMEOUT' });
      throw e;
    });
    lastOut = out;
    if (allow.includes(r.code)) {
      const last = lastOut.trim().split('\n').pop() ?? '';
      if (last.startsWith('{')) { try { Object.assign(run.observed, JSON.parse(last)); } catch { /* not JSON: ignored */ } }
      return r.code;
    }
    if (attempt >= (def.retries ?? 0) || run.signal.aborted) {
      throw stepFailure({ server: run.host, taskserv: run.ts.name, step, command: `${shell.join(' ')} ${path}`, exit_code: r.code, stdout_tail: r.stdout_tail, stderr_tail: r.stderr_tail, ...(def.hint ? { hint: def.hint } : {}) });
    }
  }
}

/** Render every script and template of the manifest (throws DEFINITION_INVALID naming the file and line). */
function renderAll(m: TaskservManifest, dir: string, ts: DesiredTaskserv, rctx: RenderContext): { scripts: Partial<Record<Step, string>>; files: Rendered[] } {
  const scripts: Partial<Record<Step, string>> = {};
  for (const [step, def] of Object.entries(m.scripts ?? {}) as [Step, NonNullable<TaskservManifest['scripts']>[Step]][]) {
    if (!def) continue;
    scripts[step] = render(def.run ? readFileSync(join(dir, def.run), 'utf8') : def.inline!, rctx, `${ts.name}/${def.run ?? `scripts.${step}.inline`}`);
  }
  const secretNames = ts.secret_paths.map((p) => p.split('.').pop()!);
  const files = (m.templates ?? []).map((tpl): Rendered => {
    const source = readFileSync(join(dir, tpl.source), 'utf8');
    // a template that uses a secret is readable by its owner only (models.md §5.3)
    const usesSecret = secretNames.some((n) => new RegExp(`settings\\.${n}\\b`).test(source));
    const owner = tpl.owner || tpl.group ? `${tpl.owner ?? 'root'}${tpl.group ? `:${tpl.group}` : ''}` : undefined;
    return {
      target: render(tpl.target, rctx, `${ts.name} templates.target`), text: render(source, rctx, `${ts.name}/${tpl.source}`),
      mode: usesSecret ? 0o600 : Number.parseInt(tpl.mode ?? '0644', 8), ...(owner ? { owner } : {}),
    };
  });
  return { scripts, files };
}

/** Upload the rendered templates; returns target → sha256 of the content. */
async function templates(run: Run): Promise<Record<string, string>> {
  const digests: Record<string, string> = {};
  for (const f of run.files) {
    digests[f.target] = sha(f.text);
    await run.t.upload(f.target, f.text, { mode: f.mode, ...(f.owner ? { owner: f.owner } : {}) });
  }
  return digests;
}

export interface CheckRow {
  phase: 'readiness' | 'smoke';
  name: string;
  ok: boolean;
  command: string;
  detail?: string;
  exit_code?: number;
  output_tail: string[];
  hint?: string;
  attempts: number;
}

/**
 * Run the manifest's checks of these phases in declaration order. `readinessOnce`: one attempt
 * per readiness check (the service should be up already: `taskserv status`). Smoke checks run
 * only when every readiness check passed; `stopAtFailure` ends at the first failing check.
 */
export async function runChecks(run: Bound, phases: ('readiness' | 'smoke')[], o: { readinessOnce?: boolean; stopAtFailure?: boolean } = {}): Promise<CheckRow[]> {
  const rows: CheckRow[] = [];
  for (const phase of phases) {
    if (phase === 'smoke' && rows.some((r) => !r.ok)) break;
    for (const [i, raw] of ((run.m[phase] ?? []) as Check[]).entries()) {
      const name = checkName(raw, i);
      const c = renderDeep(raw, run.rctx, `${run.ts.name} ${phase}[${i}]`);
      run.progress(`${run.ts.name}: ${phase} ${name}`);
      const out = await runCheck(phase === 'readiness' && o.readinessOnce ? { ...c, retries: 1 } : c, phase, c.from === 'controller' ? undefined : run.t, run.signal);
      rows.push({
        phase, name, ok: out.ok, command: out.command, attempts: out.attempts,
        ...(out.ok ? {} : { detail: out.detail ?? 'failed' }), ...(out.exit_code !== undefined && !out.ok ? { exit_code: out.exit_code } : {}),
        output_tail: out.ok ? [] : [...(out.stderr_tail ?? []), ...(out.stdout_tail ?? [])].slice(-20),
        ...(c.hint && !out.ok ? { hint: c.hint } : {}),
      });
      if (!out.ok && o.stopAtFailure) return rows;
    }
  }
  return rows;
}

/** Readiness then smoke; the first failure is a step failure. */
async function checks(run: Run): Promise<void> {
  const failed = (await runChecks(run, ['readiness', 'smoke'], { stopAtFailure: true })).find((r) => !r.ok);
  if (failed) {
    throw stepFailure({
      server: run.host, taskserv: run.ts.name, step: `${failed.phase}:${failed.name}`, command: failed.command, ...(failed.exit_code !== undefined ? { exit_code: failed.exit_code } : {}),
      detail: `${failed.detail} after ${failed.attempts} attempt(s)`, stdout_tail: failed.output_tail, ...(failed.hint ? { hint: failed.hint } : {}),
    });
  }
}

export interface TaskservOutcome { observed: Record<string, unknown>; did: string }

/** create | update | noop of one taskserv on one server, recorded in the store. */
export async function applyTaskserv(ctx: ServerContext, sessions: ServerSessions, o: { host: string; name: string; action: 'create' | 'update' | 'noop'; cluster?: string; force?: boolean }, signal: AbortSignal): Promise<TaskservOutcome> {
  const d = ctx.desired;
  const run = await bindTaskserv(ctx, sessions, { host: o.host, name: o.name, ...(o.cluster ? { cluster: o.cluster } : {}), signal });
  const { ts, m } = run;
  const id = `taskserv:${d.infra}/${o.host}/${o.name}`;
  let prev = await ctx.store.getResource(id);
  const write = async (status: string, extra: { files?: Record<string, string>; error?: Record<string, unknown> } = {}, action: 'create' | 'update' | 'observe' = 'observe') => {
    const at = new Date().toISOString();
    const record: ResourceState = {
      id, kind: 'taskserv', workspace: d.workspace.name, infra: d.infra, name: ts.name, parent: `server:${d.infra}/${o.host}`,
      status, version: ts.version,
      tags: { 'provisioning.io/workspace': d.workspace.name, 'provisioning.io/infra': d.infra, 'provisioning.io/name': ts.name, 'provisioning.io/id': id, ...(o.cluster ? { 'provisioning.io/cluster': o.cluster } : prev?.tags['provisioning.io/cluster'] ? { 'provisioning.io/cluster': prev.tags['provisioning.io/cluster'] } : {}) },
      checksum: status === 'ready' ? ts.checksum : prev?.checksum ?? '',
      applied: status === 'ready' ? { name: ts.name, version: ts.version, profile: ts.profile, settings: redacted(ts.settings, ts.secret_paths), files: extra.files ?? (prev?.applied as { files?: unknown } | undefined)?.files ?? {} } : prev?.applied ?? {},
      observed: { at, data: { ...run.observed, ...(extra.error ? { error: extra.error } : {}) } },
      generation: (prev?.generation ?? 0) + 1, created_at: prev?.created_at ?? at, updated_at: at,
    };
    await ctx.store.applyChanges([{ record, action, command: ctx.command }]);
    prev = record;
  };

  try {
    // what must happen: a forced or new install deploys; a settings/version change of a healthy
    // installation reconfigures/upgrades; anything else asks the check script (exit 0/10/11/12)
    const was = prev?.applied as { version?: string } | undefined;
    let plan: 'deploy' | 'reconfigure' | 'upgrade' | 'none';
    if (o.force || o.action === 'create') plan = 'deploy';
    else if (o.action === 'update' && prev?.status === 'ready') plan = was?.version && was.version !== ts.version ? 'upgrade' : 'reconfigure';
    else {
      run.progress(`${ts.name}: check`);
      const code = await runStep(run, 'check', [0, 10, 11, 12]);
      plan = code === 10 ? 'deploy' : code === 11 ? 'upgrade' : code === 12 || o.action === 'update' ? 'reconfigure' : 'none';
      if (plan === 'none') {
        await write('ready');
        return { observed: run.observed, did: 'unchanged (check passed)' };
      }
      run.progress(`${ts.name}: check says ${plan}`);
    }
    await write('installing');
    if (plan === 'deploy' || plan === 'upgrade') {
      const step: Step = plan === 'upgrade' && m.scripts?.upgrade ? 'upgrade' : 'install';
      run.progress(`${ts.name}: ${step}`);
      await runStep(run, step);
    }
    run.progress(`${ts.name}: templates`);
    const files = await templates(run);
    run.progress(`${ts.name}: configure`);
    await runStep(run, 'configure');
    if (plan === 'deploy') {
      run.progress(`${ts.name}: start`);
      await runStep(run, 'start');
    } else {
      run.progress(`${ts.name}: restart`);
      if (m.scripts?.restart) await runStep(run, 'restart');
      else { await runStep(run, 'stop'); await runStep(run, 'start'); }
    }
    await checks(run);
    await write('ready', { files }, prev?.checksum ? 'update' : 'create');
    return { observed: run.observed, did: plan === 'deploy' ? 'installed, smoke tests passed' : plan === 'upgrade' ? 'upgraded, smoke tests passed' : 'reconfigured and restarted, smoke tests passed' };
  } catch (err) {
    const e = asProvError(err);
    await write('error', { error: { code: e.code, message: e.message, ...e.details, ...(e.hint ? { hint: e.hint } : {}) } }).catch(() => undefined);
    throw e;
  }
}

/** Stop and uninstall one taskserv; its state directory goes too, so the server is left clean. */
export async function removeTaskserv(ctx: ServerContext, sessions: ServerSessions, rec: ResourceState, o: { cleanupData: boolean }, signal: AbortSignal): Promise<void> {
  const d = ctx.desired;
  const host = String(rec.parent).split('/').pop()!;
  // the installed version and settings, so the scripts match what runs there
  const cluster = rec.tags['provisioning.io/cluster'];
  const want = taskservOn(d, host, rec.name, cluster);
  const run = await bindTaskserv(ctx, sessions, { host, name: rec.name, ts: { ...want, version: rec.version ?? want.version }, ...(cluster ? { cluster } : {}), signal });
  await ctx.store.applyChanges([{ record: { ...rec, status: 'deleting', generation: rec.generation + 1, updated_at: new Date().toISOString() }, action: 'observe', command: ctx.command }]);
  try {
    run.progress(`${rec.name}: stop`);
    await runStep(run, 'stop');
    run.progress(`${rec.name}: uninstall`);
    await runStep(run, 'uninstall', [0], o.cleanupData ? { PROV_CLEANUP_DATA: '1' } : {});
  } finally {
    // the state directory holds the scripts and the settings file: the server is left clean
    await run.t.exec(['rm', '-rf', '--', `${STATE_DIR}/${rec.name}`], { timeoutMs: 60_000 }).catch(() => undefined);
  }
  const at = new Date().toISOString();
  await ctx.store.applyChanges([{ record: { ...rec, status: 'deleted', deleted_at: at, updated_at: at, generation: rec.generation + 2 }, action: 'delete', command: ctx.command }]);
}
