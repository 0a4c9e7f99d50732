import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ProvError } from '../../errors/index.js';
import { SCHEMA_DESCRIBES, SCHEMA_KINDS, SCHEMA_VERSION, schemaFiles, schemaFor, writeSchemas, type SchemaKind } from '../../infra/schemas.js';
import { expandHome } from '../../config/paths.js';
import type { Handler, Invocation } from '../context.js';
import { closest } from '../suggest.js';

/** `schema list|show|export` (spec/cli.md §13.3). */

function requireKind(raw: string): SchemaKind {
  if ((SCHEMA_KINDS as readonly string[]).includes(raw)) return raw as SchemaKind;
  const near = closest(raw, SCHEMA_KINDS, 1)[0];
  throw new ProvError('INVALID_ARGUMENT', `unknown schema kind '${raw}'`, { hint: `${near ? `did you mean '${near}'? ` : ''}kinds: ${SCHEMA_KINDS.join(', ')}` });
}

export const schemaList: Handler = async () => {
  const data = SCHEMA_KINDS.map((kind) => ({ kind, version: SCHEMA_VERSION, describes: SCHEMA_DESCRIBES[kind] }));
  return { data, view: { kind: 'table', columns: ['kind', 'version', 'describes'], rows: data.map((d) => [d.kind, d.version, d.describes]) } };
};

export const schemaShow: Handler = async (inv) => {
  const schema = schemaFor(requireKind(String(inv.args.kind)));
  // The schema itself is the result in every format: JSON for the table view too (it is meant to be redirected).
  return { data: schema, view: { kind: 'text', text: JSON.stringify(schema, null, 2) } };
};

function kindsFlag(inv: Invocation): SchemaKind[] {
  const raw = inv.flags.kind as string[] | string | undefined;
  if (raw === undefined) return [...SCHEMA_KINDS];
  const names = (Array.isArray(raw) ? raw : [raw]).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  return [...new Set(names.map(requireKind))];
}

export const schemaExport: Handler = async (inv) => {
  const kinds = kindsFlag(inv);
  let dir: string;
  if (typeof inv.flags['output-dir'] === 'string') {
    dir = resolve(inv.io.cwd, expandHome(inv.flags['output-dir'], inv.io.env));
  } else {
    const cfg = await inv.config({ requireWorkspace: true });
    dir = join(cfg.target.workspace!.path, '.provisioning', 'schemas');
  }
  const files = schemaFiles(dir, kinds);
  if (inv.globals.check) {
    const actions = files.map((f) => ({ action: existsSync(f.path) ? 'update' : 'create', kind: 'file', name: f.path }));
    return {
      data: { check: true, output_dir: dir, actions },
      view: { kind: 'text', text: [`Check mode — nothing will be changed   ${dir}`, '', ...actions.map((a) => `  ${a.action}  ${a.name}`)].join('\n') },
    };
  }
  const written = writeSchemas(dir, kinds);
  return {
    data: { output_dir: dir, files: files.map((f) => ({ kind: f.kind, path: f.path })) },
    view: { kind: 'text', text: [`wrote ${written.length} schema file${written.length === 1 ? '' : 's'} to ${dir}`, ...written.map((p) => `  ${p}`)].join('\n') },
  };
};
