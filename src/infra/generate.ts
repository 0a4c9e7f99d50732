import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import nunjucks from 'nunjucks';
import { parse as parseToml } from 'smol-toml';
import { parseTOML, type AST } from 'toml-eslint-parser';
import { stringify as yamlStringify } from 'yaml';
import { ProvError } from '../errors/index.js';
import type { DefinitionFormat } from '../model/index.js';

/**
 * Generators of spec/cli.md §13.2. New infras are rendered from `templates/infra/<t>/` with
 * nunjucks (like workspace templates). Entries are added to existing definitions only where the
 * result is certain: TOML is edited at positions taken from its syntax tree (comments and layout
 * stay) and re-parsed; TypeScript is code (helper functions, spreads, comments), so for it — and
 * for YAML/JSON, which have no single obvious layout — the entry is printed to paste instead.
 */

const TEMPLATE_ROOT = fileURLToPath(new URL('../../../templates/infra/', import.meta.url));

export const INFRA_TEMPLATES = readdirSync(TEMPLATE_ROOT, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();

export interface InfraTemplateVars { name: string; workspace: string; provider?: string }

/** Every file of a new infra from a template: workspace-relative to `infra/<name>/`. */
export function renderInfraTemplate(template: string, vars: InfraTemplateVars): { path: string; content: string }[] {
  const dir = `${TEMPLATE_ROOT}${template}/`;
  const env = new nunjucks.Environment(null, { autoescape: false, throwOnUndefined: false, trimBlocks: true });
  return readdirSync(dir).sort().map((f) => ({ path: f, content: env.renderString(readFileSync(dir + f, 'utf8'), { ...vars }) }));
}

/** The settings text of a copied infra, its top-level `name` changed to the new infra's. */
export function renameInfraText(text: string, format: DefinitionFormat, from: string, to: string): string {
  const q = from.replace(/[-]/g, '\\-');
  const re: Record<DefinitionFormat, RegExp> = {
    toml: new RegExp(`^(name\\s*=\\s*)(["'])${q}\\2`, 'm'),
    yaml: new RegExp(`^(name:\\s*)(["']?)${q}\\2\\s*$`, 'm'),
    json: new RegExp(`^(\\s{0,4}"name"\\s*:\\s*)(")${q}"`, 'm'),
    // The infra's own name is the first `name: '<from>'` of the module.
    ts: new RegExp(`(\\bname\\s*:\\s*)(["'\`])${q}\\2`),
  };
  return text.replace(re[format], (_m, key: string, quote: string) => `${key}${quote}${to}${quote}`);
}

// ── entries as text in each format ──────────────────────────────────────────────

const BARE_KEY = /^[A-Za-z0-9_-]+$/;
const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** A TOML inline value (tables inline, `{ a = 1 }`). */
export function tomlInline(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(tomlInline).join(', ')}]`;
  if (v && typeof v === 'object') {
    const parts = Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => `${BARE_KEY.test(k) ? k : JSON.stringify(k)} = ${tomlInline(x)}`);
    return parts.length ? `{ ${parts.join(', ')} }` : '{}';
  }
  throw new Error(`no TOML form for ${String(v)}`);
}

/** A TypeScript literal as people write it: single quotes, bare keys. */
export function tsLiteral(v: unknown): string {
  if (typeof v === 'string') return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(tsLiteral).join(', ')}]`;
  if (v && typeof v === 'object') {
    const parts = Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => `${IDENT.test(k) ? k : tsLiteral(k)}: ${tsLiteral(x)}`);
    return parts.length ? `{ ${parts.join(', ')} }` : '{}';
  }
  throw new Error(`no TypeScript form for ${String(v)}`);
}

/** The entry to paste into a list of a definition in another format than TOML. */
export function snippet(format: DefinitionFormat, entry: unknown): string {
  if (format === 'ts') return `${tsLiteral(entry)},`;
  if (format === 'json') return `${JSON.stringify(entry)},`;
  return yamlStringify([entry]).trimEnd();
}

// ── TOML edits ───────────────────────────────────────────────────────────────────

interface Edit { at: number; text: string }

function applyEdits(text: string, edits: Edit[]): string {
  let out = text;
  for (const e of [...edits].sort((a, b) => b.at - a.at)) out = out.slice(0, e.at) + e.text + out.slice(e.at);
  return out;
}

const keyName = (kv: AST.TOMLKeyValue): string => kv.key.keys.map((k) => (k.type === 'TOMLBare' ? k.name : k.value)).join('.');

function tomlTree(text: string, file: string): AST.TOMLTopLevelTable['body'] {
  try {
    return parseTOML(text).body[0].body;
  } catch (e) {
    throw new ProvError('DEFINITION_INVALID', `${file} does not parse: ${(e as Error).message}`, { hint: `fix it first: \`provisioning validate infra\`` });
  }
}

/** Insert `value` as the last element of an inline array node. */
function intoArray(arr: AST.TOMLArray, value: string): Edit {
  const last = arr.elements[arr.elements.length - 1];
  return last ? { at: last.range[1], text: `, ${value}` } : { at: arr.range[0] + 1, text: value };
}

/** After the line of the last key/value (or header) of a table: a new `key = value` line. */
function lineAfter(text: string, node: { range: [number, number] }, line: string): Edit {
  const eol = text.indexOf('\n', node.range[1]);
  return eol === -1 ? { at: text.length, text: `\n${line}` } : { at: eol, text: `\n${line}` };
}

/**
 * Add one element to the top-level list `key` (`servers`, `clusters`): into an inline
 * `key = [...]` when the file uses one, else as a new `[[key]]` table at the end.
 */
export function tomlAppendEntry(text: string, file: string, key: string, entry: Record<string, unknown>): string {
  const body = tomlTree(text, file);
  const inline = body.find((n): n is AST.TOMLKeyValue => n.type === 'TOMLKeyValue' && keyName(n) === key);
  let out: string;
  if (inline) {
    if (inline.value.type !== 'TOMLArray') throw new ProvError('DEFINITION_INVALID', `${file}: \`${key}\` is not an array`, { hint: 'fix it first: `provisioning validate infra`' });
    out = applyEdits(text, [intoArray(inline.value, tomlInline(entry))]);
  } else {
    const lines = Object.entries(entry).filter(([, v]) => v !== undefined).map(([k, v]) => `${k} = ${tomlInline(v)}`);
    out = `${text.replace(/\n*$/, '\n')}\n[[${key}]]\n${lines.join('\n')}\n`;
  }
  return checked(out, file);
}

/** Add the taskserv `name` to the `taskservs` list of the servers at `indexes`. */
export function tomlAddTaskserv(text: string, file: string, indexes: number[], name: string): string {
  const body = tomlTree(text, file);
  const edits: Edit[] = [];
  const inline = body.find((n): n is AST.TOMLKeyValue => n.type === 'TOMLKeyValue' && keyName(n) === 'servers');
  const value = JSON.stringify(name);
  for (const i of indexes) {
    if (inline && inline.value.type === 'TOMLArray') {
      const el = inline.value.elements[i];
      if (el?.type !== 'TOMLInlineTable') throw new ProvError('DEFINITION_INVALID', `${file}: servers[${i}] is not a table`);
      const kv = el.body.find((k) => keyName(k) === 'taskservs');
      if (kv && kv.value.type === 'TOMLArray') edits.push(intoArray(kv.value, value));
      else if (kv) throw new ProvError('DEFINITION_INVALID', `${file}: servers[${i}].taskservs is not an array`);
      else {
        const lastKv = el.body[el.body.length - 1];
        edits.push(lastKv ? { at: lastKv.range[1], text: `, taskservs = [${value}]` } : { at: el.range[0] + 1, text: ` taskservs = [${value}] ` });
      }
      continue;
    }
    const table = body.find((n): n is AST.TOMLTable => n.type === 'TOMLTable' && n.kind === 'array' && n.resolvedKey.length === 2 && n.resolvedKey[0] === 'servers' && n.resolvedKey[1] === i);
    if (!table) throw new ProvError('DEFINITION_INVALID', `${file}: servers[${i}] not found`);
    const kv = table.body.find((k) => keyName(k) === 'taskservs');
    if (kv && kv.value.type === 'TOMLArray') edits.push(intoArray(kv.value, value));
    else if (kv) throw new ProvError('DEFINITION_INVALID', `${file}: servers[${i}].taskservs is not an array`);
    else edits.push(lineAfter(text, table.body[table.body.length - 1] ?? table.key, `taskservs = [${value}]`));
  }
  return checked(applyEdits(text, edits), file);
}

/** An edit must leave TOML that parses; otherwise nothing is written. */
function checked(text: string, file: string): string {
  try {
    parseToml(text);
  } catch (e) {
    throw new ProvError('OPERATION_FAILED', `adding the entry to ${file} would not give valid TOML (${(e as Error).message.split('\n')[0]}); nothing was written`, { hint: 'add the entry by hand; --check prints it' });
  }
  return text;
}

/** Lines removed and added between two texts (edits here are insertions, so one block). */
export function lineDiff(before: string, after: string): string {
  const a = before.split('\n');
  const b = after.split('\n');
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length, endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) { endA--; endB--; }
  return [...a.slice(start, endA).map((l) => `- ${l}`), ...b.slice(start, endB).map((l) => `+ ${l}`)].join('\n');
}
