import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { parseTOML, type AST } from 'toml-eslint-parser';
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import type { Document, Node as YamlNode } from 'yaml';
import { ProvError } from '../errors/index.js';
import { definitionInvalid, formatPath, type Locator, type PathSegment, type Problem } from './problems.js';
import type { DefinitionContext, DefinitionKind } from '../lib/define.js';

/** The YAML library is loaded only for YAML/JSON files and positions (it is ~65 ms of start-up). */
const require = createRequire(import.meta.url);
let yamlLib: typeof Yaml | undefined;
const yaml = (): typeof Yaml => (yamlLib ??= require('yaml') as typeof Yaml);

/**
 * Loading a definition file into plain data, with a locator that maps a path inside the data to
 * a line and column. Parsing uses the fastest parser (smol-toml, JSON.parse); the position index
 * (toml-eslint-parser's AST, yaml's CST) is built only when a problem needs a position, so valid
 * large files pay nothing for it.
 */

export type DefinitionFormat = 'ts' | 'toml' | 'yaml' | 'json';

export interface LoadedDefinition {
  /** The path given to the loader. */
  file: string;
  format: DefinitionFormat;
  data: unknown;
  locate: Locator;
}

export interface LoadOptions {
  /** How the file is named in problems (e.g. workspace-relative); default: the path as given. */
  displayPath?: string;
  /** TypeScript only: which define function the default export must come from. Default "infra". */
  kind?: DefinitionKind;
  /** TypeScript only: passed to `defineInfra(ctx => …)`. */
  context?: DefinitionContext;
  /** TypeScript only: environment of the evaluation and of the cache location (PROVISIONING_HOME …). */
  env?: Record<string, string | undefined>;
  /** TypeScript only: evaluation time limit; default 10 000 ms. */
  timeoutMs?: number;
}

export function formatOf(file: string): DefinitionFormat | undefined {
  switch (extname(file).toLowerCase()) {
    case '.ts': case '.mts': return 'ts';
    case '.toml': return 'toml';
    case '.yaml': case '.yml': return 'yaml';
    case '.json': return 'json';
    default: return undefined;
  }
}

export function parseProblem(file: string, message: string, line?: number, column?: number, hint?: string): Problem {
  return {
    code: 'DEF_PARSE', message, file,
    ...(line !== undefined ? { line, column: column ?? 1 } : {}),
    path: formatPath([]), expected: 'a well-formed file', actual: 'a syntax error', ...(hint ? { hint } : {}),
  };
}

export async function loadDefinition(file: string, opts: LoadOptions = {}): Promise<LoadedDefinition> {
  const shown = opts.displayPath ?? file;
  const format = formatOf(file);
  if (!format) {
    throw new ProvError('INVALID_ARGUMENT', `${shown}: unsupported definition format`, { hint: 'use .ts, .toml, .yaml, .yml or .json' });
  }
  if (format === 'ts') {
    const { loadTypeScriptDefinition } = await import('./ts-load.js');
    return loadTypeScriptDefinition(file, { ...opts, displayPath: shown });
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new ProvError('NOT_FOUND', `definition file not found: ${shown}`);
    throw e;
  }
  return parseDefinitionText(text, format, shown);
}

/** Parse text already read (also used for `--settings -` style input and tests). */
export function parseDefinitionText(text: string, format: Exclude<DefinitionFormat, 'ts'>, file: string): LoadedDefinition {
  if (format === 'toml') return parseTomlText(text, file);
  if (format === 'json') return parseJsonText(text, file);
  return parseYamlText(text, file);
}

// ── TOML ─────────────────────────────────────────────────────────────────────────

function parseTomlText(text: string, file: string): LoadedDefinition {
  let data: unknown;
  try {
    data = parseToml(text);
  } catch (e) {
    if (e instanceof TomlError) {
      throw definitionInvalid([parseProblem(file, `invalid TOML: ${e.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '')}`, e.line, e.column)]);
    }
    throw e;
  }
  return { file, format: 'toml', data: plainToml(data), locate: lazyLocator(() => tomlIndex(text)) };
}

/**
 * smol-toml returns null-prototype tables and Date objects: make them the same plain data the
 * other formats give (dates as their ISO text, which validation then reports plainly).
 */
function plainToml(v: unknown): unknown {
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(plainToml);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) out[k] = plainToml((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

type Pos = { line: number; column: number };
type PosIndex = Map<string, { key?: Pos; value: Pos }>;
const keyOf = (path: readonly PathSegment[]) => path.join('\u0000');

function lazyLocator(build: () => PosIndex): Locator {
  let index: PosIndex | undefined;
  return (path, want) => {
    index ??= build();
    const hit = index.get(keyOf(path));
    if (!hit) return undefined;
    return want === 'key' ? hit.key ?? hit.value : hit.value;
  };
}

function tomlIndex(text: string): PosIndex {
  const index: PosIndex = new Map();
  const pos = (n: { loc: { start: { line: number; column: number } } }): Pos => ({ line: n.loc.start.line, column: n.loc.start.column + 1 });
  const keyNames = (k: AST.TOMLKey): string[] => k.keys.map((p) => (p.type === 'TOMLBare' ? p.name : p.value));
  const visitValue = (path: PathSegment[], node: AST.TOMLContentNode): void => {
    if (node.type === 'TOMLInlineTable') for (const kv of node.body) visitKv(path, kv);
    else if (node.type === 'TOMLArray') node.elements.forEach((el, i) => { const p = [...path, i]; index.set(keyOf(p), { value: pos(el) }); visitValue(p, el); });
  };
  const visitKv = (prefix: PathSegment[], kv: AST.TOMLKeyValue): void => {
    const names = keyNames(kv.key);
    // Dotted keys (`a.b = 1`) define their intermediate tables at the key.
    for (let i = 1; i < names.length; i++) {
      const p = [...prefix, ...names.slice(0, i)];
      if (!index.has(keyOf(p))) index.set(keyOf(p), { key: pos(kv), value: pos(kv) });
    }
    const path = [...prefix, ...names];
    index.set(keyOf(path), { key: pos(kv.key), value: pos(kv.value) });
    visitValue(path, kv.value);
  };
  let ast: AST.TOMLProgram;
  try { ast = parseTOML(text); } catch { return index; }
  for (const node of ast.body[0].body) {
    if (node.type === 'TOMLKeyValue') visitKv([], node);
    else {
      const prefix = node.resolvedKey as PathSegment[];
      if (!index.has(keyOf(prefix))) index.set(keyOf(prefix), { key: pos(node), value: pos(node) });
      for (const kv of node.body) visitKv(prefix, kv);
    }
  }
  return index;
}

// ── JSON and YAML ────────────────────────────────────────────────────────────────

function parseJsonText(text: string, file: string): LoadedDefinition {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const lc = /line (\d+) column (\d+)/.exec(msg);
    const at = /position (\d+)/.exec(msg);
    let line: number | undefined, column: number | undefined;
    if (lc) { line = Number(lc[1]); column = Number(lc[2]); } else if (at) ({ line, column } = offsetToPos(text, Number(at[1])));
    throw definitionInvalid([parseProblem(file, `invalid JSON: ${msg.replace(/ in JSON at position \d+.*$/, '').replace(/\s*\(line \d+ column \d+\)$/, '')}`, line, column)]);
  }
  // JSON.parse keeps the last of duplicate keys silently; the YAML parser reports them.
  return { file, format: 'json', data, locate: yamlLocator(text) };
}

function offsetToPos(text: string, offset: number): Pos {
  let line = 1, last = -1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) { line++; last = i; }
  return { line, column: offset - last };
}

function parseYamlText(text: string, file: string): LoadedDefinition {
  const lineCounter = new (yaml().LineCounter)();
  const doc = yaml().parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false, version: '1.2' });
  if (doc.errors.length > 0) {
    throw definitionInvalid(doc.errors.map((e) => {
      const p = lineCounter.linePos(e.pos[0]);
      return parseProblem(file, `invalid YAML: ${e.message.split('\n')[0]}`, p.line, p.col);
    }));
  }
  const data = doc.toJS({ maxAliasCount: 100 }) as unknown;
  return { file, format: 'yaml', data, locate: docLocator(doc, lineCounter) };
}

function yamlLocator(text: string): Locator {
  let inner: Locator | undefined;
  return (path, want) => {
    if (!inner) {
      const lineCounter = new (yaml().LineCounter)();
      inner = docLocator(yaml().parseDocument(text, { lineCounter, uniqueKeys: false }), lineCounter);
    }
    return inner(path, want);
  };
}

function docLocator(doc: Document, lc: Yaml.LineCounter): Locator {
  const at = (node: { range?: [number, number, number] | null } | null | undefined): Pos | undefined => {
    if (!node?.range) return undefined;
    const p = lc.linePos(node.range[0]);
    return { line: p.line, column: p.col };
  };
  return (path, want) => {
    if (path.length === 0) return at(doc.contents as YamlNode | null);
    if (want === 'key') {
      const parent = doc.getIn(path.slice(0, -1), true);
      if (yaml().isMap(parent)) {
        const last = path[path.length - 1];
        const pair = parent.items.find((it) => yaml().isPair(it) && (yaml().isScalar(it.key) ? it.key.value : it.key) === last);
        if (pair && yaml().isPair(pair)) return at(pair.key as YamlNode);
      }
    }
    return at(doc.getIn(path, true) as YamlNode | undefined);
  };
}

// ── string leaves (for placeholder resolution, config.md §7) ────────────────────────

export interface StringLeaf { at: PathSegment[]; path: string; value: string; line?: number; column?: number }

/** Every string value of `def.data`, in document order, with its position when known. */
export function stringLeaves(def: Pick<LoadedDefinition, 'data'> & { locate?: Locator }, onlyWith?: RegExp): StringLeaf[] {
  const out: StringLeaf[] = [];
  const walk = (v: unknown, at: PathSegment[]): void => {
    if (typeof v === 'string') {
      if (onlyWith && !onlyWith.test(v)) return;
      const pos = def.locate?.(at, 'value');
      out.push({ at, path: formatPath(at), value: v, ...(pos ?? {}) });
    } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...at, i]));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...at, k]);
  };
  walk(def.data, []);
  return out;
}

/** Replace the value at `at` (used to write resolved placeholders back). */
export function setValueAt(root: unknown, at: readonly PathSegment[], value: unknown): void {
  if (at.length === 0) throw new Error('cannot replace the root');
  let cur = root as Record<string | number, unknown>;
  for (const seg of at.slice(0, -1)) cur = cur[seg] as Record<string | number, unknown>;
  cur[at[at.length - 1]!] = value;
}
