import { EXIT, ProvError, asProvError } from '../errors/index.js';
import type { Config } from '../config/index.js';
import type { Globals, Handler, Invocation, Io, OutputFormat, Result } from './context.js';
import { renderErrorHuman, renderResult } from './output.js';
import { loadOptionsFor } from './config-options.js';
import { parseCommandLine } from './parse.js';
import type { CommandSpec } from './registry/index.js';


const truthy = (v: string | undefined) => v === '1' || v === 'true' || v === 'yes';
const FORMATS: OutputFormat[] = ['table', 'json', 'yaml', 'text', 'toml'];

function toGlobals(raw: Record<string, unknown>, env: Io['env']): Globals {
  const b = (k: string) => raw[k] === true;
  return {
    infra: raw.infra as string | undefined,
    workspace: raw.workspace as string | undefined,
    environment: raw.environment as string | undefined,
    settings: raw.settings as string | undefined,
    set: (raw.set as string[] | undefined) ?? [],
    check: b('check'),
    yes: b('yes'),
    nonInteractive: b('non-interactive') || truthy(env.PROVISIONING_NON_INTERACTIVE) || truthy(env.PROVISIONING_NONINTERACTIVE),
    wait: b('wait'),
    timeout: raw.timeout as string | undefined,
    detailedExitcode: b('detailed-exitcode'),
    orchestrated: b('orchestrated'),
    direct: b('direct'),
    out: raw.out as OutputFormat | undefined,
    quiet: b('quiet'),
    verbose: b('verbose'),
    debug: b('debug') || truthy(env.PROVISIONING_DEBUG),
    color: raw.color as boolean | undefined,
    mfaCode: raw['mfa-code'] as string | undefined,
  };
}

/** --out → PROVISIONING_OUT (or PROVISIONING_OUTPUT_FORMAT) → undefined (config or `table` decides). */
function explicitFormat(g: Globals, env: Io['env']): OutputFormat | undefined {
  if (g.out) return g.out;
  const v = env.PROVISIONING_OUT ?? env.PROVISIONING_OUTPUT_FORMAT;
  if (v === undefined || v === '') return undefined;
  if (!FORMATS.includes(v as OutputFormat)) {
    throw new ProvError('INVALID_ARGUMENT', `PROVISIONING_OUT expects one of table, json, yaml, text; got '${v}'`, { location: { resource: 'envvar PROVISIONING_OUT' } });
  }
  return v as OutputFormat;
}

export async function dispatch(argv: string[], io: Io): Promise<number> {
  let globals = toGlobals({}, io.env);
  let format: OutputFormat = 'table';
  const colorFor = (fmt: OutputFormat, stream: 'stdout' | 'stderr') =>
    (fmt === 'table' || stream === 'stderr') && globals.color !== false && !io.env.NO_COLOR && (stream === 'stdout' ? io.stdoutIsTTY : io.stderrIsTTY);
  try {
    const parsed = parseCommandLine(argv);
    globals = toGlobals(parsed.globals, io.env);
    format = explicitFormat(globals, io.env) ?? 'table';
    if (globals.orchestrated && globals.direct) throw new ProvError('USAGE', '--orchestrated and --direct exclude each other', { hint: 'pass one of them' });
    if (parsed.kind === 'version') {
      const { cliVersion } = await import('./main.js');
      io.stdout.write(format === 'json' ? JSON.stringify({ version: cliVersion() }) + '\n' : `provisioning ${cliVersion()}\n`);
      return EXIT.OK;
    }
    const run = parsed.kind === 'help'
      ? { spec: (await import('./registry/index.js')).registry().subs.get('help')!.get('show')!, args: { topic: parsed.topic }, flags: {}, passthrough: [] }
      : parsed;
    const inv = makeInvocation(run.spec, run.args, run.flags, run.passthrough, globals, io, () => format, (f) => { format = f; });
    const result = await execute(inv);
    const text = await renderResult(result, { format, color: colorFor(format, 'stdout'), width: io.stdoutIsTTY && !globals.verbose ? process.stdout.columns : undefined });
    io.stdout.write(text);
    if (result.exitCode !== undefined) return result.exitCode;
    return EXIT.OK;
  } catch (raw) {
    const err = asProvError(raw);
    // A usage error can come before flags are parsed; the caller still asked for JSON.
    if (format === 'table') format = sniffFormat(argv, io.env);
    if (format === 'json' || format === 'yaml') {
      io.stdout.write(format === 'json' ? JSON.stringify(err.toJSON(), null, 2) + '\n' : (await import('yaml')).stringify(err.toJSON()));
    } else {
      io.stderr.write(await renderError(err, { color: colorFor('table', 'stderr'), debug: globals.debug }));
    }
    if (globals.debug && !(raw instanceof ProvError) && raw instanceof Error) io.stderr.write(`${raw.stack}\n`);
    return err.exitCode;
  }
}

function sniffFormat(argv: string[], env: Io['env']): OutputFormat {
  const end = argv.indexOf('--') === -1 ? argv.length : argv.indexOf('--');
  for (let i = 0; i < end; i++) {
    const v = argv[i] === '--out' ? argv[i + 1] : argv[i]!.startsWith('--out=') ? argv[i]!.slice(6) : undefined;
    if (v && FORMATS.includes(v as OutputFormat)) return v as OutputFormat;
  }
  const e = env.PROVISIONING_OUT ?? env.PROVISIONING_OUTPUT_FORMAT;
  return e && FORMATS.includes(e as OutputFormat) ? (e as OutputFormat) : 'table';
}

async function renderError(err: ProvError, opts: { color: boolean; debug: boolean }): Promise<string> {
  if (err.code === 'CONFIG_INVALID' || err.code === 'DEFINITION_INVALID') {
    const { renderConfigErrors } = await import('../config/render.js');
    return renderConfigErrors(err) + (opts.debug && err.stack ? `\n${err.stack}\n` : '');
  }
  return renderErrorHuman(err, opts);
}

async function execute(inv: Invocation): Promise<Result> {
  const { spec } = inv;
  if (spec.pending) {
    throw new ProvError('NOT_IMPLEMENTED', `\`provisioning ${spec.command}\` is not available yet: it arrives with ${spec.pending}`, {
      hint: `see \`provisioning help ${spec.command}\` for what it will do; nothing was changed`,
    });
  }
  const ref = spec.handler!;
  // Handler modules load only when one of their commands runs.
  const mod = (await import(`./handlers/${ref.module}.js`)) as Record<string, unknown>;
  const handler = mod[ref.export] as Handler | undefined;
  if (typeof handler !== 'function') throw new Error(`command table: handler ${ref.module}.${ref.export} for '${spec.command}' is missing`);
  // Check mode is meaningful only for commands that change something (spec/cli.md §7).
  if (!spec.supports_check) inv.globals.check = false;
  const result = await handler(inv);
  if (inv.globals.check && inv.globals.detailedExitcode && result.exitCode === undefined && hasChanges(result.data)) {
    return { ...result, exitCode: EXIT.CHANGES };
  }
  return result;
}

/** A plan has changes when its summary counts anything but no-ops, or it lists changes. */
function hasChanges(data: unknown): boolean {
  if (!data || typeof data !== 'object') return false;
  const d = data as { summary?: Record<string, number>; changes?: unknown[] };
  if (d.summary) return Object.entries(d.summary).some(([k, n]) => k !== 'noop' && n > 0);
  return Array.isArray(d.changes) && d.changes.length > 0;
}

function makeInvocation(
  spec: CommandSpec, args: Invocation['args'], flags: Invocation['flags'], passthrough: string[],
  globals: Globals, io: Io, getFormat: () => OutputFormat, setFormat: (f: OutputFormat) => void,
): Invocation {
  const nonInteractive = globals.nonInteractive || !io.stdinIsTTY;
  const quiet = () => globals.quiet;
  // One load per distinct requirement, so a later stricter call still gets its check.
  const configs = new Map<string, Promise<Config>>();
  const inv: Invocation = {
    spec, args, flags, globals, passthrough, io, nonInteractive,
    get out() { return getFormat(); },
    info(message) { if (!quiet()) io.stderr.write(`${message}\n`); },
    warn(message) { io.stderr.write(`warning: ${message}\n`); },
    async confirm(question, opts = {}) {
      if (globals.yes) return;
      if (nonInteractive) {
        throw new ProvError('CONFIRMATION_REQUIRED', `\`provisioning ${spec.command}\` needs confirmation and this session is not interactive`, {
          hint: 'pass --yes to confirm (after reviewing the plan with --check)',
        });
      }
      const { createInterface } = await import('node:readline/promises');
      const rl = createInterface({ input: io.stdin, output: io.stderr, terminal: io.stdinIsTTY });
      try {
        const prompt = opts.typeName ? `${question}\nType '${opts.typeName}' to confirm: ` : `${question} Proceed? [y/N] `;
        const answer = (await rl.question(prompt)).trim();
        const ok = opts.typeName ? answer === opts.typeName : /^(y|yes)$/i.test(answer);
        if (!ok) throw new ProvError('ABORTED', 'aborted: nothing was changed', { hint: opts.typeName ? `type the name exactly ('${opts.typeName}') or pass --yes` : undefined });
      } finally {
        rl.close();
      }
    },
    config(opts = {}) {
      const key = `${Boolean(opts.requireWorkspace)}/${Boolean(opts.requireInfra)}`;
      let p = configs.get(key);
      if (!p) {
        p = (async () => {
          const { loadConfig } = await import('../config/index.js');
          const cfg = await loadConfig(loadOptionsFor(globals, io, { requireWorkspace: opts.requireWorkspace, requireInfra: opts.requireInfra }));
          if (configs.size === 1 && cfg.warnings.length && !globals.quiet) {
            const { renderWarnings } = await import('../config/render.js');
            io.stderr.write(renderWarnings(cfg.warnings as Parameters<typeof renderWarnings>[0]));
          }
          // output.format from a config file applies when neither --out nor PROVISIONING_OUT chose one.
          if (!explicitFormat(globals, io.env)) {
            const f = cfg.get('output.format');
            if (typeof f === 'string' && FORMATS.includes(f as OutputFormat)) setFormat(f as OutputFormat);
          }
          return cfg;
        })();
        configs.set(key, p);
      }
      return p;
    },
  };
  return inv;
}
