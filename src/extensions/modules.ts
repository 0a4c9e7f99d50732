import { cpSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ProvError } from '../errors/index.js';
import type { ExtensionManifest } from '../model/index.js';
import type { Catalog } from './catalog.js';
import { filesUnder, findExtension, unusableError } from './inspect.js';
import type { Candidate, ExtensionKind, LayerName } from './layers.js';

/**
 * `module load|unload`: copying an extension from a less specific layer into the workspace
 * (or one infra's) layer, and removing it again. Plans first, so check mode and the
 * confirmation show exactly what the apply step does.
 */

const RANK: Record<LayerName, number> = { core: 0, workspace: 1, infra: 2 };

export interface LoadPlan {
  kind: ExtensionKind;
  name: string;
  layer: LayerName;
  source: Candidate<ExtensionManifest>;
  /** `<layer dir>/<kind>s/<name>` */
  target: string;
  /** an earlier copy in the target layer is replaced (--force) */
  replace: boolean;
  files: string[];
}

export function layerDir(catalog: Catalog, layer: LayerName): string {
  const root = catalog.roots.find((r) => r.layer === layer);
  if (!root) throw new ProvError('NO_WORKSPACE', `the ${layer} layer needs a workspace${layer === 'infra' ? ' and an infra' : ''}`, { hint: 'run inside a workspace, or pass --workspace <name>' });
  return root.dir;
}

/** What loading one extension into `layer` copies; refuses what is there already unless forced. */
export function planLoad(catalog: Catalog, kind: ExtensionKind, name: string, layer: LayerName, force: boolean): LoadPlan {
  findExtension(catalog, kind, name);
  const target = join(layerDir(catalog, layer), `${kind}s`, name);
  const source = catalog.candidates(kind, name).find((c) => RANK[c.layer] < RANK[layer]);
  if (!source) {
    throw new ProvError('NOT_FOUND', `${kind}/${name} exists only in the ${layer} layer: there is nothing to load it from`, {
      hint: `\`provisioning module discover ${kind}\` lists what can be loaded`,
    });
  }
  if (source.problem) throw unusableError(source, catalog);
  const present = existsSync(target);
  if (present && !force) {
    throw new ProvError('ALREADY_EXISTS', `${kind}/${name} is already in the ${layer} layer (${target})`, {
      hint: 'pass --force to replace it with a fresh copy, or `provisioning module unload` it first',
    });
  }
  return { kind, name, layer, source, target, replace: present, files: filesUnder(source.dir) };
}

/** Copy next to the target, then rename: a failed copy never leaves half an extension behind. */
export function applyLoad(plan: LoadPlan): void {
  mkdirSync(dirname(plan.target), { recursive: true });
  const staging = `${plan.target}.loading-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  try {
    cpSync(plan.source.dir, staging, { recursive: true, errorOnExist: true, force: false });
    if (plan.replace) {
      const old = `${plan.target}.replaced-${process.pid}`;
      renameSync(plan.target, old);
      renameSync(staging, plan.target);
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(staging, plan.target);
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

export interface UnloadPlan {
  kind: ExtensionKind;
  name: string;
  layer: LayerName;
  target: string;
  files: string[];
  /** who supplies the extension afterwards, if anyone */
  next?: Candidate<ExtensionManifest>;
}

export function planUnload(catalog: Catalog, kind: ExtensionKind, name: string, layer: LayerName): UnloadPlan {
  const target = join(layerDir(catalog, layer), `${kind}s`, name);
  const cs = catalog.candidates(kind, name);
  if (!cs.some((c) => c.layer === layer)) {
    const elsewhere = cs.map((c) => c.layer);
    if (elsewhere.length === 0) findExtension(catalog, kind, name);
    throw new ProvError('NOT_FOUND', `${kind}/${name} is not loaded in the ${layer} layer${elsewhere.length ? ` (it comes from: ${elsewhere.join(', ')})` : ''}`, {
      hint: layer === 'workspace' ? 'for the infra layer pass --infra <name>; `provisioning module list` shows what is loaded' : '`provisioning module list` shows what is loaded',
    });
  }
  return { kind, name, layer, target, files: filesUnder(target), next: cs.find((c) => RANK[c.layer] < RANK[layer]) };
}

export function applyUnload(plan: UnloadPlan): void {
  rmSync(plan.target, { recursive: true, force: true });
}
