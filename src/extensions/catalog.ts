import semver from 'semver';
import { parse, TomlError } from 'smol-toml';
import { cliVersion } from '../cli/main.js';
import { validateManifest, type ExtensionManifest, type TaskservManifest } from '../model/index.js';
import { ExtensionCatalog, layerRoots, pathProblem, type ExtensionKind, type ManifestValidator } from './layers.js';
import type { TaskservDeps } from './resolve.js';

/**
 * The catalog a command sees: every extension of the three layers, validated by the one
 * manifest schema, with the files a manifest names checked to stay inside its directory.
 */

export type Catalog = ExtensionCatalog<ExtensionManifest>;

/** Files a taskserv manifest refers to. */
function referencedFiles(m: ExtensionManifest): string[] {
  if (m.extension.kind !== 'taskserv') return [];
  const t = m as TaskservManifest;
  const files = (t.templates ?? []).map((x) => x.source);
  for (const step of Object.values(t.scripts ?? {})) if (step?.run) files.push(step.run);
  return files;
}

export const validateExtension: ManifestValidator<ExtensionManifest> = (kind, text, file, dir) => {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (e) {
    if (e instanceof TomlError) return { problem: `extension.toml:${e.line}:${e.column}: ${e.message.split('\n')[0]}` };
    throw e;
  }
  const v = validateManifest(raw, { file });
  if (!v.value) {
    const first = v.errors[0]!;
    const more = v.errors.length > 1 ? ` (and ${v.errors.length - 1} more; \`provisioning validate extension ${dir}\` lists them)` : '';
    return { problem: `${first.message}${more}` };
  }
  const m = v.value;
  const name = dir.split(/[\\/]/).pop();
  if (m.extension.kind !== kind) return { problem: `[extension].kind is '${m.extension.kind}' but it sits in ${kind}s/` };
  if (m.extension.name !== name) return { problem: `[extension].name is '${m.extension.name}' but the directory is '${name}'` };
  const compat = compatibilityProblem(m);
  if (compat) return { problem: compat };
  for (const f of referencedFiles(m)) {
    const p = pathProblem(dir, f);
    if (p) return { problem: p };
  }
  return { manifest: m };
};

/** [compatibility].provisioning against the running CLI (models.md §5.1); undefined when it fits. */
export function compatibilityProblem(m: ExtensionManifest): string | undefined {
  const range = m.compatibility?.provisioning;
  if (!range || !semver.validRange(range)) return undefined;
  const v = cliVersion();
  return semver.satisfies(v, range, { includePrerelease: true }) ? undefined : `needs provisioning ${range}; this CLI is ${v}`;
}

export function loadCatalog(workspacePath?: string, infra?: string): Catalog {
  return new ExtensionCatalog(layerRoots(workspacePath, infra), validateExtension);
}

/** The dependency view of every usable taskserv, for the resolver. */
export function taskservDeps(catalog: Catalog): Map<string, TaskservDeps> {
  const out = new Map<string, TaskservDeps>();
  for (const c of catalog.list('taskserv')) {
    if (c.problem || !c.manifest) continue;
    const m = c.manifest as TaskservManifest;
    type Entry = string | { version?: string; scope?: 'server' | 'infra' };
    const entries = (t: Record<string, Entry> | undefined) =>
      Object.fromEntries(Object.entries(t ?? {}).map(([k, v]) => [k, typeof v === 'string' ? { version: v, scope: 'server' as const } : { version: v.version ?? '*', scope: v.scope ?? 'server' }]));
    const simple = (t: Record<string, Entry> | undefined) =>
      Object.fromEntries(Object.entries(t ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v : v.version ?? '*']));
    out.set(c.name, {
      name: c.name, version: m.extension.version, layer: `${c.layer} layer`,
      requires: entries(m.dependencies?.requires), optional: simple(m.dependencies?.optional),
      conflicts: simple(m.dependencies?.conflicts), provides: m.dependencies?.provides ?? [],
    });
  }
  return out;
}

export type { ExtensionKind };
