import { readFileSync } from 'node:fs';
import type { Config } from '../../config/index.js';
import { loadCatalog, type Catalog } from '../../extensions/catalog.js';
import type { Candidate } from '../../extensions/layers.js';
import {
  definitionInvalid, locateProblems, parseDefinitionText, sortProblems, type ExtensionManifest, type PendingProblem, type Problem,
} from '../../model/index.js';
import type { Invocation, View } from '../context.js';
import { cell, renderResult } from '../output.js';

/** Helpers shared by the extension, provider, taskserv, cluster, layer and module commands. */

/**
 * The merged config and the catalog of the selected workspace/infra (core only outside a
 * workspace), with validated manifests cached by mtime; `validate extension` validates afresh.
 */
export async function catalogOf(inv: Invocation, opts: { requireWorkspace?: boolean } = {}): Promise<{ cfg: Config; catalog: Catalog }> {
  const cfg = await inv.config(opts);
  return { cfg, catalog: loadCatalog(cfg.target.workspace?.path, cfg.target.infra, { cacheDir: cfg.dirs.cacheHome }) };
}

export const usable = (c: Candidate<ExtensionManifest>): boolean => !c.problem && c.manifest !== undefined;
export const statusOf = (c: Candidate<ExtensionManifest>): string => (usable(c) ? 'ok' : `unusable: ${c.problem}`);

/** An aligned table as text, for views made of several sections. */
export async function tableText(columns: string[], rows: unknown[][]): Promise<string> {
  return (await renderResult({ data: null, view: { kind: 'table', columns, rows } }, { format: 'table', color: false })).trimEnd();
}

export async function kvText(entries: [string, unknown][]): Promise<string> {
  const shown = entries.filter(([, v]) => v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && v.length === 0));
  return (await renderResult({ data: null, view: { kind: 'kv', entries: shown } }, { format: 'table', color: false })).trimEnd();
}

/** Sections separated by blank lines; empty ones are left out. */
export function sectionsView(parts: (string | undefined)[]): View {
  return { kind: 'text', text: parts.filter((p) => p && p.trim()).join('\n\n') };
}

export const yesNo = (b: boolean | undefined): string => (b ? 'yes' : 'no');
export const shown = (v: unknown): string => (v === undefined ? '' : typeof v === 'string' ? v : cell(v));

/** Problems found in a manifest, located in its TOML (line:column) and thrown as DEFINITION_INVALID. */
export function manifestInvalid(file: string, problems: PendingProblem[], warnings: Problem[] = []): Error {
  let locate;
  try { locate = parseDefinitionText(readFileSync(file, 'utf8'), 'toml', file).locate; } catch { locate = undefined; }
  return definitionInvalid(sortProblems(locateProblems(problems, file, locate)), warnings);
}
