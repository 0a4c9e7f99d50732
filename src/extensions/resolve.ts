import semverSatisfies from 'semver/functions/satisfies.js';
import validRange from 'semver/ranges/valid.js';
import { closest } from '../cli/suggest.js';
import { formatCycle, topoOrder } from '../graph/topo.js';

/**
 * Taskserv dependency resolution (spec/models.md §4, §5.3): which taskservs each server gets,
 * in which order, and why. Pure: it sees manifests' dependency tables and what the infra asks
 * for, never the network.
 */

export interface DepEntry {
  version: string;
  scope: 'server' | 'infra';
}

/** The parts of a taskserv manifest that resolution reads. */
export interface TaskservDeps {
  name: string;
  version: string;
  /** where it came from, for messages: "core layer", "workspace layer" */
  layer: string;
  requires: Record<string, DepEntry>;
  optional: Record<string, string>;
  conflicts: Record<string, string>;
  provides: string[];
}

export interface WantedTaskserv {
  name: string;
  /** semver ranges that apply, each with where it was written */
  ranges: { range: string; source: string }[];
  /** the definition path of the ref: `servers[1].taskservs[0]` */
  source: string;
  /** the same path as segments, to locate problems in the file */
  at: (string | number)[];
}

export interface ResolvedTaskserv {
  name: string;
  version: string;
  /** `declared`, or `required by <name>` for additions */
  reason: string;
  source: string;
}

export interface ResolveIssue {
  code: 'DEF_REFERENCE' | 'DEF_VERSION' | 'DEF_CONFLICT' | 'DEF_CYCLE' | 'DEF_DUPLICATE';
  message: string;
  path: string;
  at: (string | number)[];
  hint?: string;
}

export interface InfraEdge {
  server: string;
  taskserv: string;
  /** must be healthy first, on another server of the infra */
  needs: { server: string; taskserv: string }[];
}

export interface Resolution {
  /** hostname → taskservs in install order */
  servers: Map<string, ResolvedTaskserv[]>;
  infraEdges: InfraEdge[];
  issues: ResolveIssue[];
}

/** Requirement keys that are not taskservs: the OS is checked on the server at deploy time. */
const PSEUDO = new Set(['os']);

const satisfies = (version: string, range: string) => semverSatisfies(version, range, { includePrerelease: false });

export function resolveTaskservs(
  servers: { hostname: string; path: string; at: (string | number)[]; taskservs: WantedTaskserv[] }[],
  catalog: ReadonlyMap<string, TaskservDeps>,
): Resolution {
  const issues: ResolveIssue[] = [];
  const providers = new Map<string, string[]>(); // capability → taskservs that provide it
  for (const t of catalog.values()) for (const cap of t.provides) providers.set(cap, [...(providers.get(cap) ?? []), t.name]);

  const out = new Map<string, ResolvedTaskserv[]>();
  const infraNeeds: { server: string; taskserv: string; key: string; entry: DepEntry; path: string; at: (string | number)[] }[] = [];

  for (const srv of servers) {
    const present = new Map<string, { ts: TaskservDeps; reason: string; source: string; at: (string | number)[]; ranges: WantedTaskserv['ranges']; order: number }>();
    const requiredBy = new Map<string, Set<string>>(); // taskserv → taskservs it must follow on this server
    const byCapability = (key: string) => [...present.values()].find((p) => p.ts.name === key || p.ts.provides.includes(key));

    // Declared refs first, in declaration order.
    srv.taskservs.forEach((want, i) => {
      if (present.has(want.name)) {
        issues.push({ code: 'DEF_DUPLICATE', path: want.source, at: want.at, message: `${want.source}: taskserv '${want.name}' is listed twice on ${srv.hostname}`, hint: 'list it once; merge the settings into one entry' });
        return;
      }
      const ts = catalog.get(want.name);
      if (!ts) {
        const near = closest(want.name, catalog.keys(), 1)[0];
        issues.push({ code: 'DEF_REFERENCE', path: want.source, at: want.at, message: `${want.source}: unknown taskserv '${want.name}'`,
          hint: near ? `did you mean '${near}'? (\`provisioning taskserv list --available\` lists the catalog)` : '`provisioning taskserv list --available` lists the catalog' });
        return;
      }
      present.set(want.name, { ts, reason: 'declared', source: want.source, at: want.at, ranges: want.ranges, order: i });
    });

    // Server-scope requirements pull in what is missing, transitively.
    const queue = [...present.keys()];
    let added = 0;
    while (queue.length) {
      const name = queue.shift()!;
      const cur = present.get(name)!;
      for (const [key, entry] of Object.entries(cur.ts.requires)) {
        if (PSEUDO.has(key)) continue;
        if (entry.scope === 'infra') {
          infraNeeds.push({ server: srv.hostname, taskserv: name, key, entry, path: cur.source, at: cur.at });
          continue;
        }
        let dep = byCapability(key);
        if (!dep) {
          const candidates = catalog.has(key) ? [key] : providers.get(key) ?? [];
          if (candidates.length !== 1) {
            issues.push({
              code: 'DEF_REFERENCE', path: cur.source, at: cur.at,
              message: candidates.length === 0
                ? `${cur.source}: ${name} requires '${key}', which no taskserv in the catalog is or provides`
                : `${cur.source}: ${name} requires '${key}', provided by ${candidates.join(', ')}; add one of them to ${srv.hostname}`,
              hint: candidates.length ? `add one of ${candidates.join(', ')} to the server's taskservs` : 'load an extension that provides it (`provisioning module discover taskserv`)',
            });
            continue;
          }
          const ts = catalog.get(candidates[0]!)!;
          dep = { ts, reason: `required by ${name}`, source: cur.source, at: cur.at, ranges: [], order: cur.order - 0.5 + (added++ * 1e-6) };
          present.set(ts.name, dep);
          queue.push(ts.name);
        }
        dep.ranges = [...dep.ranges, { range: entry.version, source: `${name} (requires ${key} ${entry.version})` }];
        if (!requiredBy.has(name)) requiredBy.set(name, new Set());
        requiredBy.get(name)!.add(dep.ts.name);
      }
    }

    // Optional entries never add anything, but go first when present.
    for (const p of present.values()) {
      for (const key of Object.keys(p.ts.optional)) {
        const dep = byCapability(key);
        if (dep && dep !== p) {
          if (!requiredBy.has(p.ts.name)) requiredBy.set(p.ts.name, new Set());
          requiredBy.get(p.ts.name)!.add(dep.ts.name);
        }
      }
    }

    // Versions and conflicts.
    for (const p of present.values()) {
      for (const r of p.ranges) {
        if (!validRange(r.range)) {
          issues.push({ code: 'DEF_VERSION', path: p.source, at: p.at, message: `${p.source}: '${r.range}' is not a semver range (from ${r.source})`, hint: 'use npm range syntax: ^1.2, ~1.2.3, >=1.7 <2, 1.x, *' });
        } else if (!satisfies(p.ts.version, r.range)) {
          issues.push({ code: 'DEF_VERSION', path: p.source, at: p.at,
            message: `${p.ts.name} ${p.ts.version} (${p.ts.layer}) does not satisfy ${r.range} required by ${r.source}`,
            hint: `change the range, or provide a matching version of ${p.ts.name} in the workspace or infra layer` });
        }
      }
      for (const [key, range] of Object.entries(p.ts.conflicts)) {
        const other = byCapability(key);
        if (other && other !== p && (range === '*' || satisfies(other.ts.version, range))) {
          issues.push({ code: 'DEF_CONFLICT', path: p.source, at: p.at,
            message: `${p.ts.name} (${p.source}) conflicts with ${other.ts.name} ${other.ts.version} (${other.source}) on ${srv.hostname}`,
            hint: `remove one of them from ${srv.hostname}, or place them on different servers` });
        }
      }
    }

    const nodes = [...present.values()].sort((a, b) => a.order - b.order).map((p) => p.ts.name);
    const topo = topoOrder(nodes, (n) => requiredBy.get(n) ?? []);
    if (!topo.ok) {
      issues.push({ code: 'DEF_CYCLE', path: srv.path, at: srv.at, message: `dependency cycle on ${srv.hostname}: ${formatCycle(topo.cycle)}`, hint: 'break the cycle in the manifests\' [dependencies]' });
      out.set(srv.hostname, []);
      continue;
    }
    out.set(srv.hostname, topo.order.map((n) => {
      const p = present.get(n)!;
      return { name: n, version: p.ts.version, reason: p.reason, source: p.source };
    }));
  }

  // Infra-scope requirements: present on some server of the infra.
  const infraEdges = new Map<string, InfraEdge>();
  for (const need of infraNeeds) {
    const holders: { server: string; taskserv: string }[] = [];
    for (const [host, list] of out) {
      for (const t of list) {
        const ts = catalog.get(t.name)!;
        if ((t.name === need.key || ts.provides.includes(need.key)) && !(host === need.server && t.name === need.taskserv)) holders.push({ server: host, taskserv: t.name });
      }
    }
    if (holders.length === 0) {
      issues.push({ code: 'DEF_REFERENCE', path: need.path, at: need.at,
        message: `${need.path}: ${need.taskserv} on ${need.server} requires '${need.key}' somewhere in the infra, and no server has it`,
        hint: `add ${need.key} to one of the infra's servers` });
      continue;
    }
    for (const h of holders) {
      const v = catalog.get(h.taskserv)!.version;
      if (validRange(need.entry.version) && !satisfies(v, need.entry.version)) {
        issues.push({ code: 'DEF_VERSION', path: need.path, at: need.at, message: `${h.taskserv} ${v} on ${h.server} does not satisfy ${need.entry.version} required by ${need.taskserv} on ${need.server}` });
      }
    }
    const id = `${need.server}/${need.taskserv}`;
    const e = infraEdges.get(id) ?? { server: need.server, taskserv: need.taskserv, needs: [] };
    e.needs.push(...holders);
    infraEdges.set(id, e);
  }
  return { servers: out, infraEdges: [...infraEdges.values()], issues };
}
