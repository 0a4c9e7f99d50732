import { isTable } from './schema.js';
import { formatPath as formatAt, pending, type PathSegment, type PendingProblem } from './problems.js';
import { findCycles } from '../graph/topo.js';

/**
 * Cross-field rules that one field's schema cannot express (spec/models.md §1.1, §2–§6). They
 * read the raw input defensively, so they run even when the schema found problems elsewhere and
 * all problems of a file are reported together. Rules that need extensions or the provider
 * catalog (plan vs cores/memory, capabilities, taskserv settings) run later, in the planner.
 */

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const RESERVED_LABEL_PREFIX = 'provisioning.io/';

/** Report every later occurrence of a key already seen, pointing at the first. */
function duplicates(items: { key: string | undefined; at: PathSegment[] }[], what: string, out: PendingProblem[]): void {
  const seen = new Map<string, PathSegment[]>();
  for (const { key, at } of items) {
    if (key === undefined) continue;
    const first = seen.get(key);
    if (first) {
      out.push(pending('DEF_DUPLICATE', at, `a unique ${what}`, key, {
        message: `${formatAt(at)}: duplicate ${what} ${JSON.stringify(key)} (first at ${formatAt(first)})`,
        hint: `rename or remove one of the two`,
      }));
    } else seen.set(key, at);
  }
}

function ipv4ToInt(ip: string): number | undefined {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}
function cidrRange(cidr: string): [number, number] | undefined {
  const [ip, bits] = cidr.split('/');
  const base = ip === undefined ? undefined : ipv4ToInt(ip);
  const n = Number(bits);
  if (base === undefined || !Number.isInteger(n) || n < 0 || n > 32) return undefined;
  const size = 2 ** (32 - n);
  const start = base - (base % size);
  return [start, start + size - 1];
}

function labelRules(labels: unknown, at: PathSegment[], out: PendingProblem[]): void {
  if (!isTable(labels)) return;
  for (const k of Object.keys(labels)) {
    if (k.startsWith(RESERVED_LABEL_PREFIX)) {
      out.push(pending('DEF_PATTERN', [...at, k], 'a label key outside provisioning.io/', k, {
        message: `${formatAt([...at, k])}: the label prefix ${RESERVED_LABEL_PREFIX} is reserved for system tags`,
        hint: 'use your own prefix, e.g. example.com/…',
      }));
    }
  }
}

export interface InfraRuleOptions {
  /** The infra's directory name; `name`, when given, must equal it. */
  infraName?: string;
}

export function infraRules(raw: unknown, opts: InfraRuleOptions = {}): PendingProblem[] {
  const out: PendingProblem[] = [];
  if (!isTable(raw)) return out;
  if (opts.infraName !== undefined && typeof raw.name === 'string' && raw.name !== opts.infraName) {
    out.push(pending('DEF_CONFLICT', ['name'], `"${opts.infraName}" (the directory name)`, raw.name, { hint: `rename the directory or remove \`name\`` }));
  }
  labelRules(raw.labels, ['labels'], out);
  const network = isTable(raw.network) ? raw.network : {};
  const domain = str(network.domain);

  // Private networks: unique names, non-overlapping CIDRs.
  const nets = new Map<string, [number, number] | undefined>();
  const netItems = list(network.private_networks).map((n, i) => ({ key: isTable(n) ? str(n.name) : undefined, at: ['network', 'private_networks', i, 'name'] as PathSegment[] }));
  duplicates(netItems, 'private network name', out);
  const ranges: { at: PathSegment[]; cidr: string; r: [number, number] }[] = [];
  list(network.private_networks).forEach((n, i) => {
    if (!isTable(n) || typeof n.name !== 'string') return;
    const cidr = str(n.cidr);
    const r = cidr ? cidrRange(cidr) : undefined;
    if (!nets.has(n.name)) nets.set(n.name, r);
    if (!r || !cidr) return;
    const other = ranges.find((x) => x.r[0] <= r[1] && r[0] <= x.r[1]);
    if (other) out.push(pending('DEF_CONFLICT', ['network', 'private_networks', i, 'cidr'], `a CIDR not overlapping ${other.cidr} (${formatAt(other.at)})`, cidr));
    ranges.push({ at: ['network', 'private_networks', i, 'cidr'], cidr, r });
  });

  const servers = list(raw.servers);
  duplicates(servers.map((s, i) => ({ key: isTable(s) ? str(s.hostname) : undefined, at: ['servers', i, 'hostname'] })), 'hostname', out);
  const ips: { key: string | undefined; at: PathSegment[] }[] = [];
  servers.forEach((s, i) => {
    if (!isTable(s)) return;
    const at: PathSegment[] = ['servers', i];
    const hostname = str(s.hostname);
    if (hostname === 'localhost') out.push(pending('DEF_NAME', [...at, 'hostname'], 'a hostname other than "localhost" (reserved)', hostname));
    if (hostname && domain && hostname.length + 1 + domain.length > 253) {
      out.push(pending('DEF_RANGE', [...at, 'hostname'], 'hostname.domain of at most 253 characters', `${hostname}.${domain}`));
    }
    labelRules(s.labels, [...at, 'labels'], out);
    const names = list(s.taskservs).map((t, j) => ({ key: typeof t === 'string' ? t : isTable(t) ? str(t.name) : undefined, at: [...at, 'taskservs', j] as PathSegment[] }));
    duplicates(names, `taskserv on ${hostname ?? `servers[${i}]`}`, out);
    const vols = list(s.storage);
    duplicates(vols.map((v, j) => ({ key: isTable(v) ? str(v.name) : undefined, at: [...at, 'storage', j, 'name'] })), 'volume name', out);
    duplicates(vols.map((v, j) => ({ key: isTable(v) ? str(v.mount) : undefined, at: [...at, 'storage', j, 'mount'] })), 'mount path', out);
    const net = isTable(s.network) ? s.network : {};
    list(net.private).forEach((p, j) => {
      if (!isTable(p) || typeof p.network !== 'string') return;
      const pAt: PathSegment[] = [...at, 'network', 'private', j];
      if (!nets.has(p.network)) {
        const known = [...nets.keys()];
        out.push(pending('DEF_REFERENCE', [...pAt, 'network'], known.length ? `one of the infra's private networks: ${known.join(', ')}` : 'a private network declared in network.private_networks', p.network));
        return;
      }
      const ip = str(p.ip);
      const r = nets.get(p.network);
      const n = ip ? ipv4ToInt(ip) : undefined;
      if (ip && r && n !== undefined && (n < r[0] || n > r[1])) {
        out.push(pending('DEF_CONFLICT', [...pAt, 'ip'], `an address inside the CIDR of network ${JSON.stringify(p.network)}`, ip));
      }
      ips.push({ key: ip === undefined ? undefined : `${p.network}/${ip}`, at: [...pAt, 'ip'] });
    });
  });
  duplicates(ips, 'private address', out);

  // Clusters: unique names; inline components must be complete and reference real servers.
  const clusters = list(raw.clusters);
  duplicates(clusters.map((c, i) => ({ key: isTable(c) ? str(c.name) : undefined, at: ['clusters', i, 'name'] })), 'cluster name', out);
  const hostnames = new Set(servers.map((s) => (isTable(s) ? str(s.hostname) : undefined)).filter((h): h is string => h !== undefined));
  clusters.forEach((c, i) => {
    if (!isTable(c)) return;
    const comps = list(c.components);
    duplicates(comps.map((k, j) => ({ key: isTable(k) ? str(k.name) : undefined, at: ['clusters', i, 'components', j, 'name'] })), 'component name', out);
    if (c.extension === undefined && comps.length === 0 && Array.isArray(c.components)) {
      out.push(pending('DEF_REQUIRED', ['clusters', i, 'components'], 'at least one component (or an `extension`)', c.components));
    } else if (c.extension === undefined && c.components === undefined) {
      out.push(pending('DEF_REQUIRED', ['clusters', i, 'extension'], 'an extension name, or inline `components`', undefined,
        { message: `${formatAt(['clusters', i])}: needs \`extension\` or \`components\`` }));
    }
    const compNames = new Set(comps.map((k) => (isTable(k) ? str(k.name) : undefined)));
    comps.forEach((k, j) => {
      if (!isTable(k)) return;
      const at: PathSegment[] = ['clusters', i, 'components', j];
      if (c.extension === undefined) {
        for (const req of ['taskserv', 'placement'] as const) {
          if (k[req] === undefined) out.push(pending('DEF_REQUIRED', [...at, req], req === 'taskserv' ? 'a taskserv name' : 'a placement', undefined, { message: `${formatAt([...at, req])}: missing required field (the cluster has no extension to inherit it from)` }));
        }
        list(k.after).forEach((a, n) => {
          if (typeof a === 'string' && !compNames.has(a)) out.push(pending('DEF_REFERENCE', [...at, 'after', n], 'the name of another component of this cluster', a));
        });
      }
      const placement = isTable(k.placement) ? k.placement : {};
      list(placement.servers).forEach((h, n) => {
        if (typeof h === 'string' && !hostnames.has(h)) out.push(pending('DEF_REFERENCE', [...at, 'placement', 'servers', n], 'a hostname of this infra', h));
      });
    });
  });
  return out;
}

export function workflowRules(raw: unknown): PendingProblem[] {
  const out: PendingProblem[] = [];
  if (!isTable(raw)) return out;
  labelRules(raw.labels, ['labels'], out);
  const ops = list(raw.operations);
  duplicates(ops.map((o, i) => ({ key: isTable(o) ? str(o.id) : undefined, at: ['operations', i, 'id'] })), 'operation id', out);
  const ids = new Set(ops.map((o) => (isTable(o) ? str(o.id) : undefined)).filter((x): x is string => x !== undefined));
  const edges = new Map<string, string[]>();
  ops.forEach((o, i) => {
    if (!isTable(o)) return;
    const id = str(o.id);
    for (const kind of ['dependencies', 'after'] as const) {
      list(o[kind]).forEach((d, j) => {
        if (typeof d !== 'string') return;
        if (d === id) out.push(pending('DEF_REFERENCE', ['operations', i, kind, j], 'the id of another operation', d, { message: `${formatAt(['operations', i, kind, j])}: operation ${JSON.stringify(d)} cannot depend on itself` }));
        else if (!ids.has(d)) out.push(pending('DEF_REFERENCE', ['operations', i, kind, j], `the id of an operation of this workflow`, d));
        else if (id !== undefined) edges.set(id, [...(edges.get(id) ?? []), d]);
      });
    }
  });
  for (const cycle of findCycles([...ids], edges)) {
    const i = ops.findIndex((o) => isTable(o) && o.id === cycle[0]);
    out.push(pending('DEF_CYCLE', ['operations', i], 'operations without a dependency cycle', undefined, {
      message: `dependency cycle: ${[...cycle, cycle[0]].join(' → ')}`,
    }));
  }
  return out;
}
