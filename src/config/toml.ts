import { parse as smolParse, TomlError } from 'smol-toml';
import { getStaticTOMLValue, parseTOML, type AST } from 'toml-eslint-parser';

/**
 * TOML with positions: every leaf of a file with its line and column (for origins and error
 * locations), and surgical edits for `config set/unset` that keep comments and layout.
 */

export interface TomlLeaf {
  path: string[];
  value: unknown;
  line: number;
  column: number;
}

export class TomlSyntaxError extends Error {
  constructor(message: string, readonly line: number, readonly column: number) {
    super(message);
  }
}

export function parseTomlDoc(text: string): AST.TOMLProgram {
  try {
    return parseTOML(text, { tomlVersion: '1.0' });
  } catch (e) {
    const pe = e as { message: string; lineNumber?: number; column?: number };
    if (typeof pe.lineNumber !== 'number') throw e;
    // smol-toml often places the error better (the line of `key =` rather than the next one).
    try {
      smolParse(text);
    } catch (s) {
      if (s instanceof TomlError && s.line <= pe.lineNumber) throw new TomlSyntaxError(pe.message, s.line, s.column);
    }
    throw new TomlSyntaxError(pe.message, pe.lineNumber, (pe.column ?? 0) + 1);
  }
}

const keyNames = (k: AST.TOMLKey): string[] => k.keys.map((p) => (p.type === 'TOMLBare' ? p.name : p.value));

/** Leaves in document order; inline tables are tables, arrays are leaves. */
export function tomlLeaves(ast: AST.TOMLProgram): TomlLeaf[] {
  const out: TomlLeaf[] = [];
  const visit = (prefix: string[], kv: AST.TOMLKeyValue) => {
    const path = [...prefix, ...keyNames(kv.key)];
    if (kv.value.type === 'TOMLInlineTable') {
      if (kv.value.body.length === 0) out.push({ path, value: {}, line: kv.loc.start.line, column: kv.loc.start.column + 1 });
      for (const inner of kv.value.body) visit(path, inner);
      return;
    }
    out.push({ path, value: getStaticTOMLValue(kv.value), line: kv.loc.start.line, column: kv.loc.start.column + 1 });
  };
  for (const node of ast.body[0].body) {
    if (node.type === 'TOMLKeyValue') visit([], node);
    else if (node.kind === 'array') {
      // Arrays of tables are never part of the schema; report them as one value at their path.
      out.push({ path: node.resolvedKey.filter((k): k is string => typeof k === 'string'), value: [getStaticTOMLValue(node)], line: node.loc.start.line, column: node.loc.start.column + 1 });
    } else {
      const prefix = node.resolvedKey as string[];
      if (node.body.length === 0) out.push({ path: prefix, value: {}, line: node.loc.start.line, column: node.loc.start.column + 1 });
      for (const kv of node.body) visit(prefix, kv);
    }
  }
  return out;
}

// ── editing ──────────────────────────────────────────────────────────────────────

const BARE = /^[A-Za-z0-9_-]+$/;
export const tomlKey = (path: string[]): string => path.map((p) => (BARE.test(p) ? p : JSON.stringify(p))).join('.');

/** A value as TOML source text. */
export function tomlLiteral(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(tomlLiteral).join(', ')}]`;
  if (v && typeof v === 'object') return `{ ${Object.entries(v).map(([k, x]) => `${tomlKey([k])} = ${tomlLiteral(x)}`).join(', ')} }`;
  throw new Error(`cannot write ${String(v)} as TOML`);
}

interface Found { kv: AST.TOMLKeyValue; container: AST.TOMLTopLevelTable | AST.TOMLTable | AST.TOMLInlineTable }

/** The key/value node that defines `path` (dotted keys, table headers and inline tables). */
function findKey(ast: AST.TOMLProgram, path: string[]): Found | undefined {
  const search = (prefix: string[], container: Found['container'], body: AST.TOMLKeyValue[]): Found | undefined => {
    for (const kv of body) {
      const full = [...prefix, ...keyNames(kv.key)];
      if (full.length === path.length && full.every((p, i) => p === path[i])) return { kv, container };
      if (kv.value.type === 'TOMLInlineTable' && full.every((p, i) => p === path[i])) {
        const hit = search(full, kv.value, kv.value.body);
        if (hit) return hit;
      }
    }
    return undefined;
  };
  const top = ast.body[0];
  for (const node of top.body) {
    if (node.type === 'TOMLKeyValue') {
      const hit = search([], top, [node]);
      if (hit) return hit;
    } else if (node.kind === 'standard') {
      const prefix = node.resolvedKey as string[];
      if (prefix.length < path.length && prefix.every((p, i) => p === path[i])) {
        const hit = search(prefix, node, node.body);
        if (hit) return hit;
      }
    }
  }
  return undefined;
}

const lineStart = (text: string, i: number) => text.lastIndexOf('\n', i - 1) + 1;
const lineEnd = (text: string, i: number) => { const n = text.indexOf('\n', i); return n === -1 ? text.length : n + 1; };

/**
 * Set `path` to the TOML literal `literal`: replace the value in place when the key exists,
 * else add it under the deepest existing table header that contains it, else append a new
 * `[table]` section. Everything else in the file stays byte for byte.
 */
export function setKeyText(text: string, path: string[], literal: string): string {
  const ast = parseTomlDoc(text);
  const found = findKey(ast, path);
  if (found) return text.slice(0, found.kv.value.range[0]) + literal + text.slice(found.kv.value.range[1]);
  const top = ast.body[0];
  let best: AST.TOMLTable | undefined;
  for (const node of top.body) {
    if (node.type !== 'TOMLTable' || node.kind !== 'standard') continue;
    const prefix = node.resolvedKey as string[];
    if (prefix.length < path.length && prefix.every((p, i) => p === path[i]) && (!best || prefix.length > best.resolvedKey.length)) best = node;
  }
  const sep = text === '' || text.endsWith('\n') ? '' : '\n';
  if (path.length === 1 || best) {
    const prefixLen = best ? best.resolvedKey.length : 0;
    const line = `${tomlKey(path.slice(prefixLen))} = ${literal}\n`;
    const body = best ? best.body : top.body.filter((n): n is AST.TOMLKeyValue => n.type === 'TOMLKeyValue');
    const after = body.length > 0 ? body[body.length - 1]!.range[1] : best ? best.key.range[1] : -1;
    if (after === -1) {
      // Top-level key in a file that has only tables: before the first table, after leading comments.
      const first = top.body[0];
      const at = first ? lineStart(text, first.range[0]) : text.length;
      return text.slice(0, at) + sep.repeat(at === text.length ? 1 : 0) + line + (first ? '\n' : '') + text.slice(at);
    }
    const at = lineEnd(text, after);
    return text.slice(0, at) + (at === text.length ? sep : '') + line + text.slice(at);
  }
  const blank = text.trim() === '' ? '' : text.endsWith('\n\n') ? '' : '\n';
  return `${text}${sep}${blank}[${tomlKey(path.slice(0, -1))}]\n${tomlKey(path.slice(-1))} = ${literal}\n`;
}

/** Remove `path` from the text; undefined when the file does not set it. */
export function unsetKeyText(text: string, path: string[]): string | undefined {
  const ast = parseTomlDoc(text);
  const found = findKey(ast, path);
  if (!found) return undefined;
  const { kv, container } = found;
  if (container.type === 'TOMLInlineTable') {
    // Drop the entry and one neighbouring comma.
    const commas = ast.tokens.filter((t) => t.type === 'Punctuator' && t.value === ',' && t.range[0] >= container.range[0] && t.range[1] <= container.range[1]);
    const next = commas.find((t) => t.range[0] >= kv.range[1]);
    const prev = [...commas].reverse().find((t) => t.range[1] <= kv.range[0]);
    let [from, to] = kv.range;
    if (next) to = next.range[1];
    else if (prev) from = prev.range[0];
    while (to < text.length && text[to] === ' ') to++;
    return text.slice(0, from) + text.slice(to);
  }
  return text.slice(0, lineStart(text, kv.range[0])) + text.slice(lineEnd(text, kv.range[1]));
}

/** A one-hunk unified diff of a single edit: enough for `--check` of set/unset/switch. */
export function unifiedDiff(file: string, before: string, after: string): string {
  const a = before === '' ? [] : before.replace(/\n$/, '').split('\n');
  const b = after === '' ? [] : after.replace(/\n$/, '').split('\n');
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) { endA--; endB--; }
  if (start === endA && start === endB) return '';
  const from = Math.max(0, start - 3);
  const toA = Math.min(a.length, endA + 3);
  const toB = Math.min(b.length, endB + 3);
  const lines = [
    `--- ${file}`, `+++ ${file}`,
    `@@ -${from + 1},${toA - from} +${from + 1},${toB - from} @@`,
    ...a.slice(from, start).map((l) => ` ${l}`),
    ...a.slice(start, endA).map((l) => `-${l}`),
    ...b.slice(start, endB).map((l) => `+${l}`),
    ...a.slice(endA, toA).map((l) => ` ${l}`),
  ];
  return lines.join('\n') + '\n';
}
