import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Extension discovery across layers (spec/models.md §5.1): core (shipped in the package) →
 * workspace (`<ws>/extensions`) → infra (`<ws>/infra/<name>/extensions`). The most specific
 * layer holding a name wins as a whole; files are never merged. A manifest that fails to
 * parse or validate makes that extension unusable with a reason — discovery itself never fails.
 */

export type ExtensionKind = 'provider' | 'taskserv' | 'cluster';
export const KINDS: ExtensionKind[] = ['provider', 'taskserv', 'cluster'];
export type LayerName = 'core' | 'workspace' | 'infra';

export interface LayerRoot {
  layer: LayerName;
  /** directory holding `providers/`, `taskservs/`, `clusters/` */
  dir: string;
}

export interface Candidate<M = unknown> {
  kind: ExtensionKind;
  name: string;
  layer: LayerName;
  dir: string;
  manifest?: M;
  /** why the extension cannot be used; undefined when it can */
  problem?: string;
}

/** Turns manifest text into a manifest or a reason; supplied by the model (one schema). */
export type ManifestValidator<M> = (kind: ExtensionKind, text: string, file: string, dir: string) => { manifest: M } | { problem: string };

export const CORE_EXTENSIONS = resolve(fileURLToPath(import.meta.url), '..', '..', '..', '..', 'extensions');

export function layerRoots(workspacePath?: string, infra?: string): LayerRoot[] {
  const roots: LayerRoot[] = [{ layer: 'core', dir: CORE_EXTENSIONS }];
  if (workspacePath) roots.push({ layer: 'workspace', dir: join(workspacePath, 'extensions') });
  if (workspacePath && infra) roots.push({ layer: 'infra', dir: join(workspacePath, 'infra', infra, 'extensions') });
  return roots;
}

const RANK: Record<LayerName, number> = { core: 0, workspace: 1, infra: 2 };

export class ExtensionCatalog<M = unknown> {
  /** kind/name → candidates, most specific layer first */
  private readonly byKey = new Map<string, Candidate<M>[]>();

  constructor(readonly roots: LayerRoot[], validate: ManifestValidator<M>) {
    for (const root of roots) {
      for (const kind of KINDS) {
        const kindDir = join(root.dir, `${kind}s`);
        if (!existsSync(kindDir)) continue;
        for (const entry of readdirSync(kindDir, { withFileTypes: true })) {
          if (!entry.isDirectory()) continue;
          const dir = join(kindDir, entry.name);
          const c = load(kind, entry.name, root.layer, dir, validate);
          const key = `${kind}/${entry.name}`;
          this.byKey.set(key, [c, ...(this.byKey.get(key) ?? [])].sort((a, b) => RANK[b.layer] - RANK[a.layer]));
        }
      }
    }
  }

  /** The winning candidate (usable or not) of one extension. */
  winner(kind: ExtensionKind, name: string): Candidate<M> | undefined {
    return this.byKey.get(`${kind}/${name}`)?.[0];
  }

  /** The usable manifest of one extension, if its winning layer is valid. */
  get(kind: ExtensionKind, name: string): M | undefined {
    const w = this.winner(kind, name);
    return w && !w.problem ? w.manifest : undefined;
  }

  /** Every candidate of one extension, most specific first. */
  candidates(kind: ExtensionKind, name: string): Candidate<M>[] {
    return this.byKey.get(`${kind}/${name}`) ?? [];
  }

  /** Winners of one kind, sorted by name. */
  list(kind: ExtensionKind): Candidate<M>[] {
    return [...this.byKey.entries()].filter(([k]) => k.startsWith(`${kind}/`)).map(([, cs]) => cs[0]!).sort((a, b) => a.name.localeCompare(b.name));
  }

  names(kind: ExtensionKind): string[] {
    return this.list(kind).map((c) => c.name);
  }

  /** `layer explain`: each candidate, and why it won or lost. */
  explain(kind: ExtensionKind, name: string): { layer: LayerName; dir: string; usable: boolean; verdict: string }[] {
    const cs = this.candidates(kind, name);
    return cs.map((c, i) => ({
      layer: c.layer, dir: c.dir, usable: !c.problem,
      verdict: i === 0
        ? c.problem ? `wins (most specific layer) but is unusable: ${c.problem}` : cs.length > 1 ? `wins: ${c.layer} is the most specific layer holding ${name}` : `wins: the only layer holding ${name}`
        : `loses to the ${cs[0]!.layer} layer (more specific; extensions are never merged)`,
    }));
  }
}

function load<M>(kind: ExtensionKind, name: string, layer: LayerName, dir: string, validate: ManifestValidator<M>): Candidate<M> {
  const file = join(dir, 'extension.toml');
  const base = { kind, name, layer, dir };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return { ...base, problem: `no extension.toml in ${dir}` };
  }
  try {
    const r = validate(kind, text, file, dir);
    return 'problem' in r ? { ...base, problem: r.problem } : { ...base, manifest: r.manifest };
  } catch (e) {
    return { ...base, problem: `manifest could not be read: ${(e as Error).message}` };
  }
}

/**
 * A path from a manifest must stay inside its extension directory — also after symlinks.
 * Returns the problem, or undefined when the path is safe and exists.
 */
export function pathProblem(dir: string, rel: string): string | undefined {
  if (isAbsolute(rel)) return `'${rel}' is absolute; paths in a manifest are relative to the extension directory`;
  const full = resolve(dir, rel);
  const inside = (p: string, root: string) => { const r = relative(root, p); return r !== '' && !r.startsWith('..') && !isAbsolute(r) && !r.startsWith(`..${sep}`); };
  if (!inside(full, dir)) return `'${rel}' escapes the extension directory`;
  if (!existsSync(full)) return `'${rel}' does not exist in the extension`;
  if (!inside(realpathSync(full), realpathSync(dir))) return `'${rel}' links outside the extension directory`;
  return undefined;
}
