import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FREE_FORM, KEYS, type KeySpec } from '../config/schema.js';
import { jsonSchemaFor, SCHEMA_KINDS as MODEL_KINDS, type SchemaKind as ModelKind } from '../model/index.js';

/**
 * The JSON Schemas of `schema list|show|export` (spec/cli.md §13.3): the definition kinds come
 * from the model's zod schemas, `config` from the configuration key table — the same tables that
 * validate, so an editor and `validate` never disagree.
 */

export const SCHEMA_KINDS = [...MODEL_KINDS, 'config'] as const;
export type SchemaKind = (typeof SCHEMA_KINDS)[number];

/** Bumped when a kind changes incompatibly (`schema list` shows it). */
export const SCHEMA_VERSION = 1;

export const SCHEMA_DESCRIBES: Record<SchemaKind, string> = {
  infra: 'infra/<name>/settings.{ts,toml,yaml,json}',
  server: 'one entry of servers[] in an infra definition',
  taskserv: 'extensions/taskservs/<name>/extension.toml',
  cluster: 'extensions/clusters/<name>/extension.toml',
  workflow: 'workflows/*.{ts,toml,yaml,json}',
  extension: 'any extension.toml (provider, taskserv, cluster)',
  config: 'provisioning.toml, config/<env>.toml, infra/<name>/config.toml, the user config',
};

export function schemaFor(kind: SchemaKind): Record<string, unknown> {
  return kind === 'config' ? configJsonSchema() : jsonSchemaFor(kind as ModelKind);
}

// ── config ───────────────────────────────────────────────────────────────────────

const DURATION = { anyOf: [{ type: 'string', pattern: '^(\\d+(\\.\\d+)?(ms|s|m|h|d))+$' }, { type: 'number', minimum: 0 }], description: 'a duration: "30s", "5m", "1h30m"; a number is seconds' };
const SIZE = { anyOf: [{ type: 'string', pattern: '^\\d+(\\.\\d+)?\\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$' }, { type: 'number', minimum: 0 }], description: 'a size: "512MiB", "4GiB"' };
const NAME = { type: 'string', pattern: '^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$' };

function leafSchema(spec: KeySpec): Record<string, unknown> {
  const base = ((): Record<string, unknown> => {
    switch (spec.type) {
      case 'int': return { type: 'integer', ...(spec.min !== undefined ? { minimum: spec.min } : {}), ...(spec.max !== undefined ? { maximum: spec.max } : {}) };
      case 'bool': return { type: 'boolean' };
      case 'duration': return { ...DURATION };
      case 'size': return { ...SIZE };
      case 'enum': return { enum: [...(spec.values ?? []), ...Object.keys(spec.aliases ?? {})] };
      case 'name': return { ...NAME };
      case 'string[]': return { type: 'array', items: { type: 'string' } };
      case 'name[]': return { type: 'array', items: { ...NAME } };
      default: return { type: 'string' };
    }
  })();
  const desc = [spec.note, spec.readonly ? 'read-only' : undefined, spec.type === 'secret' ? 'secret: prefer ENC[…] or {{kms.decrypt("…")}}' : undefined].filter(Boolean).join('; ');
  // Placeholders ({{ … }}) are valid in any string-typed position before interpolation.
  return { ...base, ...(spec.default !== undefined && spec.default !== '' ? { default: spec.default } : {}), ...(desc ? { description: desc } : {}) };
}

type Node = { type: 'object'; properties: Record<string, unknown>; additionalProperties: unknown };

function configJsonSchema(): Record<string, unknown> {
  const root: Node = { type: 'object', properties: {}, additionalProperties: false };
  const tableAt = (path: string[]): Node => {
    let cur = root;
    for (const seg of path) {
      cur.properties[seg] ??= { type: 'object', properties: {}, additionalProperties: false };
      cur = cur.properties[seg] as Node;
    }
    return cur;
  };
  for (const [key, spec] of Object.entries(KEYS)) {
    const parts = key.split('.');
    tableAt(parts.slice(0, -1)).properties[parts[parts.length - 1]!] = leafSchema(spec);
  }
  for (const [path, kind] of Object.entries(FREE_FORM)) {
    const parts = path.split('.');
    if (parts[parts.length - 1] === '*') {
      tableAt(parts.slice(0, -1)).additionalProperties = { type: 'object' };
      continue;
    }
    const t = tableAt(parts.slice(0, -1));
    const last = parts[parts.length - 1]!;
    t.properties[last] = kind === 'strings'
      ? { type: 'object', additionalProperties: { type: 'string' } }
      : kind === 'dependencies'
        ? { type: 'object', additionalProperties: { anyOf: [{ type: 'string' }, { type: 'object', properties: { version: { type: 'string' }, source: { type: 'string' }, kind: { type: 'string' } } }] } }
        : { type: 'object' };
  }
  return { $schema: 'https://json-schema.org/draft/2020-12/schema', $id: 'https://provisioning.dev/schemas/config.json', title: 'Provisioning configuration (provisioning.toml, config/*.toml)', ...root };
}

/** The files `schema export` writes: `<dir>/<kind>.json`. */
export function schemaFiles(dir: string, kinds: readonly SchemaKind[] = SCHEMA_KINDS): { kind: SchemaKind; path: string; content: string }[] {
  return kinds.map((kind) => ({ kind, path: join(dir, `${kind}.json`), content: `${JSON.stringify(schemaFor(kind), null, 2)}\n` }));
}

export function writeSchemas(dir: string, kinds: readonly SchemaKind[] = SCHEMA_KINDS): string[] {
  mkdirSync(dir, { recursive: true });
  return schemaFiles(dir, kinds).map((f) => { writeFileSync(f.path, f.content); return f.path; });
}
