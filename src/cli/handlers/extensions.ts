import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { stringify as tomlStringify } from 'smol-toml';
import { ProvError } from '../../errors/index.js';
import { layerRoots, KINDS, type LayerName } from '../../extensions/layers.js';
import { findExtension, parseRef, requireKind, unusableError, validateExtensionDir, versionOf, type Candidate, type ExtensionKind } from '../../extensions/inspect.js';
import { applyLoad, applyUnload, planLoad, planUnload, type LoadPlan } from '../../extensions/modules.js';
import { renderWarnings } from '../../config/render.js';
import { definitionInvalid, type ExtensionManifest, type TaskservManifest } from '../../model/index.js';
import type { Handler, Invocation } from '../context.js';
import { catalogOf, kvText, sectionsView, tableText, usable } from './extensions-common.js';

/**
 * `extension list|info|validate`, `validate extension`, `layer show|explain|test|stats` and
 * `module discover|load|unload|list` (spec/cli.md §12.3, §22.1–22.3; models.md §5.1).
 * Decisions live in src/extensions; this file turns them into data and views.
 */

export {
  providerList, providerInfo, providerValidate, taskservList, taskservShow, taskservDependencies, taskservValidate,
  clusterList, clusterShow, clusterValidate,
} from './extensions-catalog.js';

const LAYERS: LayerName[] = ['core', 'workspace', 'infra'];
const ref = (c: { kind: string; name: string }) => `${c.kind}/${c.name}`;
const kindsOf = (inv: Invocation, key = 'kind'): ExtensionKind[] => (typeof inv.flags[key] === 'string' ? [requireKind(inv.flags[key] as string)] : KINDS);
const argKinds = (inv: Invocation): ExtensionKind[] => (typeof inv.args.kind === 'string' ? [requireKind(inv.args.kind)] : KINDS);

// ── extension ────────────────────────────────────────────────────────────────────

function summary(c: Candidate<ExtensionManifest>) {
  return {
    kind: c.kind, name: c.name, version: versionOf(c) ?? null, layer: c.layer, path: c.dir,
    description: c.manifest?.extension.description ?? null, usable: usable(c), problem: c.problem ?? null,
  };
}

export const extensionList: Handler = async (inv) => {
  const { catalog } = await catalogOf(inv);
  const layer = inv.flags.layer as LayerName | undefined;
  const data = kindsOf(inv).flatMap((k) => catalog.list(k)).filter((c) => !layer || c.layer === layer).map(summary)
    .sort((a, b) => a.name.localeCompare(b.name) || a.kind.localeCompare(b.kind));
  return {
    data,
    view: { kind: 'table', columns: ['kind', 'name', 'version', 'layer', 'status', 'source'],
      rows: data.map((d) => [d.kind, d.name, d.version, d.layer, d.usable ? 'ok' : `unusable: ${d.problem}`, d.path]) },
  };
};

export const extensionInfo: Handler = async (inv) => {
  const { kind, name } = parseRef(inv.args.ref as string, inv.args.name as string | undefined);
  const { catalog } = await catalogOf(inv);
  const c = findExtension(catalog, kind, name);
  const m = c.manifest;
  const deps = m && kind === 'taskserv' ? (m as TaskservManifest).dependencies ?? {} : undefined;
  const data = {
    ...summary(c),
    license: m?.extension.license ?? null, authors: m?.extension.authors ?? [], homepage: m?.extension.homepage ?? null, keywords: m?.extension.keywords ?? [],
    compatibility: m?.compatibility ?? {}, ...(deps ? { dependencies: deps } : {}),
    candidates: catalog.candidates(kind, name).map((x) => ({ layer: x.layer, version: versionOf(x) ?? null, path: x.dir, usable: usable(x) })),
    manifest: m ?? null,
  };
  const shadowed = data.candidates.slice(1).map((x) => `${x.layer}${x.version ? ` ${x.version}` : ''}`);
  return {
    data,
    view: sectionsView([
      await kvText([['extension', `${ref(c)} ${data.version ?? ''}`.trim()], ['layer', c.layer], ['path', c.dir], ['status', usable(c) ? 'usable' : `unusable: ${c.problem}`],
        ['description', data.description], ['license', data.license], ['authors', data.authors], ['homepage', data.homepage], ['keywords', data.keywords],
        ['provisioning', m?.compatibility?.provisioning], ['platforms', m?.compatibility?.platforms], ['os', m?.compatibility?.os],
        ['requires', deps?.requires ? Object.keys(deps.requires) : undefined], ['provides', deps?.provides], ['overrides', shadowed]]),
      m ? `MANIFEST (${join(c.dir, 'extension.toml')})\n${tomlStringify(m).trimEnd()}` : undefined,
    ]),
  };
};

/** `extension validate <path>` and `validate extension <path>`: every problem, or exit 0. */
export const extensionValidate: Handler = async (inv) => {
  const given = inv.args.path as string;
  let dir = resolve(inv.io.cwd, given);
  if (!existsSync(dir)) throw new ProvError('NOT_FOUND', `no such directory: ${dir}`, { hint: 'pass an extension directory (the one holding extension.toml)' });
  if (statSync(dir).isFile()) {
    if (basename(dir) !== 'extension.toml') throw new ProvError('INVALID_ARGUMENT', `${dir} is a file; pass the extension directory (or its extension.toml)`);
    dir = dirname(dir);
  }
  const { catalog } = await catalogOf(inv);
  const v = validateExtensionDir(dir, catalog);
  if (v.errors.length > 0) throw definitionInvalid(v.errors, v.warnings);
  if (v.warnings.length > 0) inv.io.stderr.write(renderWarnings(v.warnings));
  const lines = [`✓ ${v.kind} ${v.name} is valid (${dir})`, ...v.checked.map((x) => `  ✓ ${x}`)];
  return { data: { valid: true, path: dir, kind: v.kind, name: v.name, checked: v.checked, warnings: v.warnings }, view: { kind: 'text', text: lines.join('\n') } };
};

// ── layer ────────────────────────────────────────────────────────────────────────

async function layerStack(inv: Invocation) {
  const { cfg, catalog } = await catalogOf(inv);
  const ws = cfg.target.workspace;
  const roots = layerRoots(ws?.path, cfg.target.infra);
  const stack = LAYERS.map((layer) => {
    const dir = roots.find((r) => r.layer === layer)?.dir ?? null;
    const note = layer === 'core' ? 'shipped with the CLI' : layer === 'workspace' ? (ws ? `workspace ${ws.name}` : 'no workspace selected') : (cfg.target.infra ? `infra ${cfg.target.infra}` : 'no infra selected');
    return { layer, path: dir, exists: dir !== null && existsSync(dir), note };
  });
  return { catalog, stack };
}

export const layerShow: Handler = async (inv) => {
  const { stack } = await layerStack(inv);
  return {
    data: stack,
    view: { kind: 'table', columns: ['layer', 'path', 'exists', 'note'], rows: stack.map((l) => [l.layer, l.path ?? '—', l.path ? (l.exists ? 'yes' : 'no') : '—', l.note]) },
  };
};

export const layerExplain: Handler = async (inv) => {
  const { kind, name } = parseRef(inv.args.ref as string, inv.args.name as string | undefined);
  const { catalog } = await catalogOf(inv);
  const w = findExtension(catalog, kind, name);
  const cs = catalog.candidates(kind, name);
  const why = catalog.explain(kind, name);
  const candidates = cs.map((c, i) => ({ layer: c.layer, version: versionOf(c) ?? null, path: c.dir, usable: usable(c), problem: c.problem ?? null, wins: i === 0, verdict: why[i]!.verdict }));
  const headline = usable(w)
    ? `${kind}/${name}: supplied by the ${w.layer} layer (${versionOf(w)})`
    : `${kind}/${name}: the ${w.layer} layer wins but is unusable: ${w.problem}\n  fix ${join(w.dir, 'extension.toml')} or remove it; layers are never merged, so no other layer stands in`;
  return {
    data: { kind, name, winner: w.layer, usable: usable(w), candidates },
    view: sectionsView([headline, await tableText(['layer', 'version', 'usable', 'verdict', 'path'],
      candidates.map((c) => [c.layer, c.version ?? '?', c.usable ? 'yes' : 'no', c.verdict, c.path]))]),
  };
};

export const layerTest: Handler = async (inv) => {
  const { kind, name } = parseRef(inv.args.ref as string, inv.args.name as string | undefined);
  const { catalog } = await catalogOf(inv);
  const w = findExtension(catalog, kind, name);
  if (!usable(w)) throw unusableError(w, catalog);
  return {
    data: { kind, name, layer: w.layer, path: w.dir, manifest: w.manifest },
    view: { kind: 'text', text: `# ${kind}/${name} as resolved: ${w.layer} layer, ${w.dir} (used whole; not merged)\n${tomlStringify(w.manifest as Record<string, unknown>)}` },
  };
};

export const layerStats: Handler = async (inv) => {
  const { catalog, stack } = await layerStack(inv);
  const per = new Map(LAYERS.map((l) => [l, { provider: 0, taskserv: 0, cluster: 0, unusable: 0, overrides: [] as string[] }]));
  const overrides: { extension: string; winner: LayerName; shadows: LayerName[] }[] = [];
  for (const kind of KINDS) {
    for (const name of catalog.names(kind)) {
      const cs = catalog.candidates(kind, name);
      cs.forEach((c, i) => {
        const s = per.get(c.layer)!;
        s[kind]++;
        if (!usable(c)) s.unusable++;
        if (i === 0 && cs.length > 1) s.overrides.push(`${kind}/${name}`);
      });
      if (cs.length > 1) overrides.push({ extension: `${kind}/${name}`, winner: cs[0]!.layer, shadows: cs.slice(1).map((c) => c.layer) });
    }
  }
  const layers = stack.map((l) => ({ ...l, providers: per.get(l.layer)!.provider, taskservs: per.get(l.layer)!.taskserv, clusters: per.get(l.layer)!.cluster,
    unusable: per.get(l.layer)!.unusable, overrides: per.get(l.layer)!.overrides }));
  return {
    data: { layers, overrides: overrides.sort((a, b) => a.extension.localeCompare(b.extension)) },
    view: sectionsView([
      await tableText(['layer', 'providers', 'taskservs', 'clusters', 'unusable', 'overrides'], layers.map((l) => [l.layer, l.providers, l.taskservs, l.clusters, l.unusable, l.overrides.length])),
      overrides.length ? `Overrides\n${overrides.map((o) => `  ${o.extension}: ${o.winner} over ${o.shadows.join(', ')}`).join('\n')}` : 'No overrides: every extension comes from one layer.',
    ]),
  };
};

// ── module ───────────────────────────────────────────────────────────────────────

/** `--infra <i>` targets that infra's layer; otherwise the workspace layer. */
const targetLayer = (inv: Invocation): LayerName => (inv.globals.infra ? 'infra' : 'workspace');

export const moduleDiscover: Handler = async (inv) => {
  const kinds = argKinds(inv);
  const q = (inv.args.query as string | undefined)?.toLowerCase();
  const { catalog } = await catalogOf(inv);
  const layer = targetLayer(inv);
  const data = kinds.flatMap((kind) => catalog.names(kind).map((name) => catalog.candidates(kind, name)))
    .filter((cs) => cs.some((c) => c.layer === 'core') && !cs.some((c) => c.layer === layer))
    .map((cs) => cs.find((c) => c.layer === 'core')!)
    .map((c) => ({ ...summary(c), category: (c.manifest as TaskservManifest | undefined)?.extension.category ?? null, keywords: c.manifest?.extension.keywords ?? [] }))
    .filter((d) => !q || [d.name, d.description ?? '', d.category ?? '', ...d.keywords].some((s) => s.toLowerCase().includes(q)))
    .sort((a, b) => a.name.localeCompare(b.name) || a.kind.localeCompare(b.kind));
  return {
    data,
    view: { kind: 'table', columns: ['kind', 'name', 'version', 'category', 'description'], rows: data.map((d) => [d.kind, d.name, d.version, d.category, d.description]) },
  };
};

export const moduleList: Handler = async (inv) => {
  const kinds = argKinds(inv);
  const { catalog } = await catalogOf(inv, { requireWorkspace: true });
  const data = kinds.flatMap((kind) => catalog.names(kind).flatMap((name) => {
    const cs = catalog.candidates(kind, name);
    return cs.filter((c) => c.layer !== 'core').map((c) => ({
      ...summary(c), active: cs[0] === c, overrides: cs.filter((o) => o !== c && LAYERS.indexOf(o.layer) < LAYERS.indexOf(c.layer)).map((o) => `${o.layer}${versionOf(o) ? ` ${versionOf(o)}` : ''}`),
    }));
  })).sort((a, b) => a.name.localeCompare(b.name) || a.kind.localeCompare(b.kind) || a.layer.localeCompare(b.layer));
  return {
    data,
    view: { kind: 'table', columns: ['kind', 'name', 'version', 'layer', 'overrides', 'status'],
      rows: data.map((d) => [d.kind, d.name, d.version, d.layer, d.overrides.join(', '), d.usable ? (d.active ? 'ok' : 'shadowed') : `unusable: ${d.problem}`]) },
  };
};

const planText = (title: string, rows: unknown[][]) => tableText(['action', 'extension', 'target', 'files'], rows).then((t) => `${title}\n\n${t}`);

export const moduleLoad: Handler = async (inv) => {
  const kind = requireKind(inv.args.kind as string);
  const names = [...new Set((inv.args.name as string[] | undefined) ?? [])];
  if ((inv.flags.source as string | undefined) === 'oci') {
    throw new ProvError('NOT_IMPLEMENTED', '`module load --source oci` is not available yet: it arrives with a later issue (extensions and OCI distribution)', { hint: 'load from the shipped catalog: --source local' });
  }
  const { catalog } = await catalogOf(inv, { requireWorkspace: true });
  const layer = targetLayer(inv);
  // All or nothing: every name is checked before anything is copied.
  const plans: LoadPlan[] = names.map((n) => planLoad(catalog, kind, n, layer, inv.flags.force === true));
  const actions = plans.map((p, i) => ({
    step: i + 1, action: p.replace ? 'replace' : 'create', kind: 'extension', name: `${kind}/${p.name}`, target: p.target,
    details: { from: p.source.layer, version: versionOf(p.source), files: p.files },
  }));
  if (inv.globals.check) {
    const rows = actions.flatMap((a) => a.details.files.map((f, j) => [j === 0 ? a.action : '', j === 0 ? `${a.name} ${a.details.version}` : '', join(a.target, f), '']));
    return {
      data: { check: true, layer, actions, summary: { create: actions.filter((a) => a.action === 'create').length, replace: actions.filter((a) => a.action === 'replace').length } },
      view: { kind: 'text', text: await tableText(['action', 'extension', 'file', ''], rows).then((t) => `Check mode — nothing will be changed   ${layer} layer\n\n${t}`) },
    };
  }
  for (const p of plans) applyLoad(p);
  return {
    data: { loaded: plans.map((p) => ({ kind, name: p.name, version: versionOf(p.source), layer, path: p.target, from: p.source.layer, files: p.files.length, replaced: p.replace })) },
    view: { kind: 'text', text: plans.map((p) => `✓ ${p.replace ? 'replaced' : 'loaded'} ${kind}/${p.name} ${versionOf(p.source)} into the ${layer} layer (${p.target}, ${p.files.length} files from ${p.source.layer})`).join('\n') },
  };
};

export const moduleUnload: Handler = async (inv) => {
  const kind = requireKind(inv.args.kind as string);
  const name = inv.args.name as string;
  const { catalog } = await catalogOf(inv, { requireWorkspace: true });
  const layer = targetLayer(inv);
  const plan = planUnload(catalog, kind, name, layer);
  const after = plan.next ? `the ${plan.next.layer} layer supplies ${kind}/${name} afterwards` : `${kind}/${name} will no longer exist in any layer`;
  const action = { step: 1, action: 'delete', kind: 'extension', name: `${kind}/${name}`, target: plan.target, details: { files: plan.files, after: plan.next?.layer ?? null } };
  const text = await planText(`${inv.globals.check ? 'Check mode — nothing will be changed' : 'Plan'}   ${layer} layer · ${after}`, [['delete', `${kind}/${name}`, plan.target, plan.files.length]]);
  if (inv.globals.check) return { data: { check: true, layer, actions: [action], summary: { delete: 1 } }, view: { kind: 'text', text } };
  inv.info(text);
  await inv.confirm(`Remove ${kind}/${name} from the ${layer} layer (${plan.files.length} files)?`);
  applyUnload(plan);
  return {
    data: { unloaded: { kind, name, layer, path: plan.target, files: plan.files.length, now_from: plan.next?.layer ?? null } },
    view: { kind: 'text', text: `✓ unloaded ${kind}/${name} from the ${layer} layer; ${after}` },
  };
};
