import { parseArgs } from 'node:util';
import { ProvError } from '../errors/index.js';
import { ACTION_SHORTCUTS, GLOBAL_FLAGS, SHORTCUTS, registry, subcommandsOf, subName } from './registry/index.js';
import type { CommandSpec, FlagSpec } from './registry/index.js';
import { didYouMean } from './suggest.js';

/** What the command line asked for, after shortcuts, aliases and help forms are resolved. */
export type Parsed =
  | { kind: 'run'; spec: CommandSpec; args: Record<string, string | string[] | undefined>; flags: Record<string, unknown>; globals: Record<string, unknown>; passthrough: string[] }
  | { kind: 'help'; topic: string[]; globals: Record<string, unknown> }
  | { kind: 'version'; globals: Record<string, unknown> };

const GLOBAL_BY_NAME = new Map(GLOBAL_FLAGS.map((f) => [f.name, f]));
const GLOBAL_BY_SHORT = new Map(GLOBAL_FLAGS.filter((f) => f.short).map((f) => [f.short!, f]));

/** Positional words before any command-specific parsing, skipping global flags and their values. */
function leadingWords(argv: string[]): { words: number[]; end: number } {
  const words: number[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const t = argv[i]!;
    if (t === '--') break;
    if (t.startsWith('-') && t !== '-') {
      const long = t.startsWith('--') ? GLOBAL_BY_NAME.get(t.slice(2)) : t.length === 2 ? GLOBAL_BY_SHORT.get(t[1]!) : undefined;
      if (long?.type === 'string' && !t.includes('=')) i++;
      continue;
    }
    words.push(i);
  }
  return { words, end: i };
}

function usage(message: string, hint?: string, details: Record<string, unknown> = {}): ProvError {
  return new ProvError('USAGE', message, { hint, details });
}

export function parseCommandLine(input: string[]): Parsed {
  let argv = [...input];
  // Whole-command shortcuts replace the first word (§4).
  let { words, end } = leadingWords(argv);
  const first = words[0] === undefined ? undefined : argv[words[0]];
  if (first !== undefined && SHORTCUTS[first] && first !== 'oci-registry') {
    argv.splice(words[0]!, 1, ...SHORTCUTS[first]!);
  } else if (first === 'oci-registry') {
    const action = words[1] === undefined ? 'status' : argv[words[1]]!;
    argv = [...argv.slice(0, words[0]), 'platform', action, 'oci-registry', ...argv.slice((words[1] ?? words[0]!) + 1)];
  }
  ({ words, end } = leadingWords(argv));

  const reg = registry();
  // Help forms ignore what they cannot parse: `s c --bogus -h` still shows the page.
  const globalsOnly = (own: FlagSpec[] = []) => {
    try {
      return parseFlags(argv.filter((_, i) => !words.includes(i) && i < end), own, false).globals;
    } catch {
      return {};
    }
  };

  if (words.length === 0) {
    const g = parseFlags(argv, [], true).globals;
    if (g.version) return { kind: 'version', globals: g };
    return { kind: 'help', topic: [], globals: g };
  }

  const areaWord = argv[words[0]!]!;
  const area = reg.areaAliases.get(areaWord);
  if (!area) {
    const candidates = [...reg.areaAliases.keys(), ...Object.keys(SHORTCUTS)];
    throw new ProvError('UNKNOWN_COMMAND', `unknown command '${areaWord}'`, {
      hint: didYouMean(areaWord, candidates, (s) => `did you mean \`provisioning ${s}\`? (provisioning help lists every area)`)
        ?? 'run `provisioning help` to list the areas',
    });
  }

  // `help <topic…>`: every later word is the topic, even one that names a help subcommand.
  if (area === 'help') {
    const spec = reg.subs.get('help')!.get('show')!;
    const rest = argv.filter((_, i) => i !== words[0]);
    const { globals, flags, positionals } = parseFlags(rest, spec.flags, false, spec);
    return { kind: 'run', spec, args: { topic: positionals }, flags, globals, passthrough: [] };
  }

  const subs = reg.subs.get(area)!;
  const areaSpec = reg.areas.get(area)!;
  let subWord = words[1] === undefined ? undefined : argv[words[1]]!;
  if (subWord !== undefined && ACTION_SHORTCUTS[subWord] && subs.has(ACTION_SHORTCUTS[subWord]!)) subWord = ACTION_SHORTCUTS[subWord];

  // `<area> help [<sub>]` is the same page as `help <area> [<sub>]`.
  if (subWord === 'help') {
    return { kind: 'help', topic: [area, ...words.slice(2).map((i) => argv[i]!)], globals: globalsOnly() };
  }

  let spec: CommandSpec | undefined = subWord === undefined ? undefined : subs.get(subWord);
  let consumed = spec ? 2 : 1;
  if (!spec && areaSpec.default) {
    spec = subs.get(areaSpec.default);
    consumed = 1;
  }
  const wantsHelp = argv.some((t, i) => i < (argv.indexOf('--') === -1 ? argv.length : argv.indexOf('--')) && (t === '--help' || t === '-h' || /^-[a-zA-Z]*h[a-zA-Z]*$/.test(t) && !t.startsWith('--')));
  if (!spec) {
    if (wantsHelp || subWord === undefined) return { kind: 'help', topic: [area], globals: globalsOnly() };
    throw new ProvError('UNKNOWN_COMMAND', `unknown subcommand '${subWord}' for '${area}'`, {
      hint: didYouMean(subWord, [...subs.keys()], (s) => `did you mean \`provisioning ${area} ${s}\`?`) ?? `run \`provisioning help ${area}\` to list its subcommands`,
    });
  }
  if (wantsHelp) return { kind: 'help', topic: spec.command.split(' '), globals: globalsOnly(spec.flags) };

  const rest = argv.filter((_, i) => !words.slice(0, consumed).includes(i));
  const dd = rest.indexOf('--');
  const passthrough = dd === -1 ? [] : rest.slice(dd + 1);
  const { globals, flags, positionals } = parseFlags(dd === -1 ? rest : rest.slice(0, dd), spec.flags, false, spec);
  if (globals.version && spec.command !== 'version show') return { kind: 'version', globals };

  // A default subcommand that got a word it cannot take: the word was probably a mistyped subcommand.
  if (consumed === 1 && subWord !== undefined && spec.args.length === 0) {
    throw new ProvError('UNKNOWN_COMMAND', `unknown subcommand '${subWord}' for '${area}'`, {
      hint: didYouMean(subWord, [...subs.keys()], (s) => `did you mean \`provisioning ${area} ${s}\`?`) ?? `run \`provisioning help ${area}\``,
    });
  }
  return { kind: 'run', spec, args: bindArgs(spec, positionals), flags, globals, passthrough };
}

function bindArgs(spec: CommandSpec, positionals: string[]): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = {};
  let i = 0;
  for (const a of spec.args) {
    if (a.variadic) {
      out[a.name] = positionals.slice(i).flatMap((p) => p.split(',')).filter(Boolean);
      i = positionals.length;
      if (a.required && (out[a.name] as string[]).length === 0) throw missing(spec, a.name);
      continue;
    }
    const v = positionals[i++];
    if (v === undefined && a.required) throw missing(spec, a.name);
    out[a.name] = v;
  }
  if (i < positionals.length) {
    throw usage(`unexpected argument '${positionals[i]}' for '${spec.command}'`, `usage: ${usageLine(spec)}`);
  }
  return out;
}

function missing(spec: CommandSpec, name: string): ProvError {
  return usage(`missing argument <${name}> for '${spec.command}'`, `usage: ${usageLine(spec)}`, { argument: name });
}

export function usageLine(spec: CommandSpec): string {
  const args = spec.args.map((a) => {
    const n = `<${a.name}>${a.variadic ? '...' : ''}`;
    return a.required ? n : `[${n}]`;
  });
  return ['provisioning', spec.command, ...args, spec.flags.length ? '[flags]' : ''].filter(Boolean).join(' ');
}

/** Parse flags: the command's own win over global ones of the same name (`--version <v>`). */
function parseFlags(argv: string[], own: FlagSpec[], globalOnly: boolean, spec?: CommandSpec) {
  const all = new Map<string, { flag: FlagSpec; global: boolean }>();
  for (const f of GLOBAL_FLAGS) all.set(f.name, { flag: f, global: true });
  for (const f of own) all.set(f.name, { flag: f, global: false });
  const alias = new Map<string, string>();
  for (const { flag } of all.values()) for (const a of flag.aliases ?? []) alias.set(a, flag.name);

  const options: Record<string, { type: 'boolean' | 'string'; short?: string; multiple?: boolean }> = {};
  const shortsTaken = new Set<string>();
  for (const { flag } of [...all.values()].reverse()) {
    const short = flag.short && !shortsTaken.has(flag.short) ? flag.short : undefined;
    if (short) shortsTaken.add(short);
    options[flag.name] = { type: flag.type, ...(short ? { short } : {}), multiple: true };
  }
  for (const [a, canon] of alias) options[a] = { type: options[canon]!.type, multiple: true };

  const { tokens } = parseArgs({ args: argv, options, allowPositionals: true, allowNegative: true, strict: false, tokens: true });
  const globals: Record<string, unknown> = {};
  const flags: Record<string, unknown> = {};
  const positionals: string[] = [];
  const where = spec ? ` for '${spec.command}'` : '';
  for (const t of tokens) {
    if (t.kind === 'positional') { positionals.push(t.value); continue; }
    if (t.kind !== 'option') continue;
    const name = alias.get(t.name) ?? t.name;
    const entry = all.get(name);
    if (!entry) {
      const known = [...all.keys(), ...alias.keys()].map((k) => `--${k}`);
      throw usage(`unknown flag '${t.rawName}'${where}`,
        didYouMean(t.rawName, known, (s) => `did you mean \`${s}\`?`) ?? (spec ? `run \`provisioning help ${spec.command}\` to list its flags` : 'run `provisioning help`'));
    }
    const { flag, global } = entry;
    const target = global ? globals : flags;
    const negated = t.rawName.startsWith('--no-');
    if (flag.type === 'boolean') {
      if (t.inlineValue) throw usage(`flag '${t.rawName}' takes no value`, `use \`${t.rawName}\` or \`--no-${flag.name}\``);
      target[name] = !negated;
      continue;
    }
    if (negated) throw usage(`flag '--${flag.name}' takes a value and cannot be negated`);
    if (t.value === undefined) throw usage(`flag '${t.rawName}' needs a value ${flag.value ?? ''}`.trim(), spec ? `usage: ${usageLine(spec)}` : undefined);
    if (flag.choices && !flag.multiple && !flag.choices.includes(t.value)) {
      throw new ProvError('INVALID_ARGUMENT', `flag '--${flag.name}' expects one of ${flag.choices.join(', ')}, got '${t.value}'`, {
        hint: didYouMean(t.value, flag.choices, (s) => `did you mean \`--${flag.name} ${s}\`?`),
      });
    }
    if (flag.multiple) {
      const list = (target[name] as string[] | undefined) ?? [];
      // `--set a=b,c` keeps its comma: values of --set are TOML-ish and may contain commas.
      list.push(...(name === 'set' ? [t.value] : t.value.split(',').filter(Boolean)));
      target[name] = list;
    } else {
      target[name] = t.value;
    }
  }
  if (globalOnly && positionals.length) throw usage(`unexpected argument '${positionals[0]}'`);
  return { globals, flags, positionals };
}

export { subcommandsOf, subName };
