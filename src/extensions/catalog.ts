import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import satisfies from 'semver/functions/satisfies.js';
import validRange from 'semver/ranges/valid.js';
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

/**
 * Validated manifests are cached in `<cache home>/catalog/` (validation is most of a catalog's
 * load time). An entry is reused only while the manifest file and the directories holding the
 * files it names keep their size and mtime, and for the same CLI version; `validate extension`
 * always validates afresh.
 */
type CacheEntry = { stamp: string; result: { manifest: ExtensionManifest } | { problem: string } };

function stampOf(file: string, dir: string): string {
  const parts = [file, join(dir), join(dir, 'scripts'), join(dir, 'templates')].map((p) => {
    try { const st = statSync(p); return `${st.size}:${st.mtimeMs}`; } catch { return '-'; }
  });
  return parts.join('|');
}

function cachedValidator(cacheDir: string): { validate: ManifestValidator<ExtensionManifest>; save: () => void } {
  const file = join(cacheDir, 'catalog', `manifests-${cliVersion()}.json`);
  let entries: Record<string, CacheEntry> = {};
  try { entries = JSON.parse(readFileSync(file, 'utf8')) as Record<string, CacheEntry>; } catch { /* no cache yet, or unreadable: rebuilt */ }
  let dirty = false;
  return {
    validate: (kind, text, manifestFile, dir) => {
      const stamp = stampOf(manifestFile, dir);
      const hit = entries[manifestFile];
      if (hit && hit.stamp === stamp) return hit.result;
      const result = validateExtension(kind, text, manifestFile, dir);
      entries[manifestFile] = { stamp, result };
      dirty = true;
      return result;
    },
    save: () => {
      if (!dirty) return;
      try {
        mkdirSync(join(cacheDir, 'catalog'), { recursive: true, mode: 0o700 });
        const tmp = `${file}.${process.pid}.tmp`;
        writeFileSync(tmp, JSON.stringify(entries));
        renameSync(tmp, file);
      } catch { /* a cache that cannot be written only costs time */ }
    },
  };
}

/** [compatibility].provisioning against the running CLI (models.md §5.1); undefined when it fits. */
export function compatibilityProblem(m: ExtensionManifest): string | undefined {
  const range = m.compatibility?.provisioning;
  if (!range || !validRange(range)) return undefined;
  const v = cliVersion();
  return satisfies(v, range, { includePrerelease: true }) ? undefined : `needs provisioning ${range}; this CLI is ${v}`;
}

export function loadCatalog(workspacePath?: string, infra?: string, opts: { cacheDir?: string } = {}): Catalog {
  if (!opts.cacheDir) return new ExtensionCatalog(layerRoots(workspacePath, infra), validateExtension);
  const cache = cachedValidator(opts.cacheDir);
  const catalog = new ExtensionCatalog(layerRoots(workspacePath, infra), cache.validate);
  cache.save();
  return catalog;
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
