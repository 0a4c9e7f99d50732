import * as z from 'zod';
import { Duration, Name, SemverRange, size, type IssueParams } from './scalars.js';
import { FieldTable } from './fields.js';
import { ClusterComponent, SEMVER_RE, isTable } from './schema.js';

/**
 * Extension manifests (`extension.toml`) of spec/models.md §5: the common [extension] and
 * [compatibility] tables, then one schema per kind. Paths inside a manifest (templates, scripts,
 * provider entry) must stay inside the extension directory.
 */

export const EXTENSION_KINDS = ['provider', 'taskserv', 'cluster'] as const;
export const TASKSERV_CATEGORIES = ['container_runtime', 'kubernetes', 'networking', 'storage', 'database',
  'observability', 'security', 'development', 'misc'] as const;

/** A relative path that does not escape its extension directory. */
const InsidePath = z.string().min(1).refine((p) => !p.startsWith('/') && !p.split(/[\\/]/).includes('..'), {
  params: { def: 'DEF_PATTERN', expected: 'a relative path inside the extension directory', hint: 'paths may not start with "/" or contain ".."' } satisfies IssueParams,
});

export const ExtensionInfo = z.strictObject({
  name: Name,
  kind: z.enum(EXTENSION_KINDS),
  version: z.string().regex(SEMVER_RE).meta({ description: 'a semver version such as "1.2.0"' }),
  description: z.string().optional(),
  category: z.enum(TASKSERV_CATEGORIES).optional(),
  license: z.string().optional(),
  authors: z.array(z.string()).optional(),
  homepage: z.string().optional(),
  keywords: z.array(z.string()).optional(),
});

export const Compatibility = z.strictObject({
  provisioning: SemverRange.optional(),
  platforms: z.array(z.string().regex(/^[a-z0-9]+\/[a-z0-9_]+$/).meta({ description: 'a platform such as "linux/amd64"' })).optional(),
  os: z.array(z.string().regex(/^[a-z][a-z0-9-]*(\s*(>=|>|=|<=|<)\s*[0-9][0-9.]*)?$/).meta({ description: 'a distribution and minimum version such as "ubuntu>=22.04"' })).optional(),
});

const common = { extension: ExtensionInfo, compatibility: Compatibility.optional() };

// ── taskserv (§5.3) ──────────────────────────────────────────────────────────────

const DependencyEntry = z.union([
  SemverRange,
  z.strictObject({ version: SemverRange.optional(), scope: z.enum(['server', 'infra']).optional() }),
]).meta({ description: 'a version range, or { version?, scope? = "server" | "infra" }' });
const DepKey = z.string().regex(/^[a-z][a-z0-9-]*$/);

export const Dependencies = z.strictObject({
  requires: z.record(DepKey, DependencyEntry).optional(),
  optional: z.record(DepKey, DependencyEntry).optional(),
  conflicts: z.record(DepKey, SemverRange).optional(),
  provides: z.array(DepKey).optional(),
});

export const Resources = z.strictObject({
  cores: z.number().positive().optional(),
  memory: size('MiB').optional(),
  disk: size('GiB').optional(),
  ports: z.array(z.int().min(1).max(65535)).optional(),
  privileged: z.boolean().optional(),
});

export const TemplateEntry = z.strictObject({
  source: InsidePath,
  target: z.string().regex(/^\/.*/).meta({ description: 'an absolute path on the server' }),
  mode: z.string().regex(/^0?[0-7]{3}$/).meta({ description: 'an octal mode such as "0644"' }).optional(),
  owner: z.string().optional(),
  group: z.string().optional(),
});

export const ScriptStep = z.strictObject({
  run: InsidePath.optional(),
  inline: z.string().optional(),
  shell: z.string().optional(),
  timeout: Duration.optional(),
  retries: z.int().min(0).max(20).optional(),
  sudo: z.boolean().optional(),
  env: z.record(z.string(), z.string()).optional(),
  hint: z.string().optional(),
}).superRefine((s, ctx) => {
  if ((s.run === undefined) === (s.inline === undefined)) {
    ctx.addIssue({ code: 'custom', message: '', path: ['run'], params: { def: s.run === undefined ? 'DEF_REQUIRED' : 'DEF_CONFLICT', expected: 'exactly one of `run` or `inline`' } satisfies IssueParams });
  }
});

export const SCRIPT_STEPS = ['install', 'configure', 'start', 'check', 'uninstall', 'stop', 'restart', 'upgrade'] as const;
export const Scripts = z.strictObject(Object.fromEntries(SCRIPT_STEPS.map((s) => [s, ScriptStep.optional()])) as Record<(typeof SCRIPT_STEPS)[number], z.ZodOptional<typeof ScriptStep>>);

const checkCommon = {
  name: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/).meta({ description: 'a check name such as "set-get"' }).optional(),
  from: z.enum(['server', 'controller']).optional(),
  timeout: Duration.optional(),
  interval: Duration.optional(),
  retries: z.int().min(1).max(1000).optional(),
  hint: z.string().optional(),
};
const Templated = <T extends z.ZodType>(t: T) => z.union([t, z.string().min(1)]);
export const Check = z.discriminatedUnion('kind', [
  z.strictObject({
    ...checkCommon, kind: z.literal('http'), url: z.string().min(1), method: z.enum(['GET', 'HEAD', 'POST']).optional(),
    headers: z.record(z.string(), z.string()).optional(), body: z.string().optional(),
    expect_status: z.union([z.int(), z.array(z.int())]).optional(), expect_body: z.string().optional(), insecure: z.boolean().optional(),
  }),
  z.strictObject({ ...checkCommon, kind: z.literal('tcp'), port: Templated(z.int().min(1).max(65535)), host: z.string().optional() }),
  z.strictObject({
    ...checkCommon, kind: z.literal('command'), command: z.string().min(1), env: z.record(z.string(), z.string()).optional(),
    expect_exit: z.int().optional(), expect_output: z.string().optional(),
  }),
  z.strictObject({ ...checkCommon, kind: z.literal('file'), path: z.string().min(1), exists: z.boolean().optional(), contains: z.string().optional() }),
]);

export const TaskservManifest = z.strictObject({
  ...common,
  dependencies: Dependencies.optional(),
  resources: Resources.optional(),
  settings: FieldTable.optional(),
  profiles: z.record(z.string().regex(/^[a-z][a-z0-9_-]*$/), z.record(z.string(), z.unknown())).optional(),
  templates: z.array(TemplateEntry).optional(),
  scripts: Scripts.optional(),
  readiness: z.array(Check).optional(),
  smoke: z.array(Check).optional(),
});

// ── provider (§5.4) ──────────────────────────────────────────────────────────────

export const CAPABILITIES = ['custom_plans', 'resize', 'storage', 'private_networks', 'firewall', 'public_ipv6', 'user_data', 'pricing'] as const;

export const PricedPlan = z.strictObject({
  name: z.string().min(1),
  cores: z.int().min(1),
  memory: size('MiB'),
  disk: size('GiB').optional(),
  hourly: z.number().nonnegative().optional(),
  monthly: z.number().nonnegative().optional(),
});

export const ProviderManifest = z.strictObject({
  ...common,
  provider: z.strictObject({
    entry: InsidePath,
    interface: z.int().min(1),
    transport: z.enum(['ssh', 'exec']).optional(),
    default_user: z.string().optional(),
  }),
  capabilities: z.strictObject(Object.fromEntries(CAPABILITIES.map((c) => [c, z.boolean().optional()])) as Record<(typeof CAPABILITIES)[number], z.ZodOptional<z.ZodBoolean>>).optional(),
  config: FieldTable.optional(),
  server_settings: FieldTable.optional(),
  catalog: z.strictObject({
    zones: z.array(z.string()).optional(),
    plans: z.array(PricedPlan).optional(),
    images: z.array(z.string()).optional(),
  }).optional(),
  pricing: z.strictObject({
    currency: z.string().regex(/^[A-Z]{3}$/).meta({ description: 'an ISO currency code such as "EUR"' }),
    source: z.enum(['api', 'static']).optional(),
    plans: z.array(PricedPlan).optional(),
    storage_gb_month: z.number().nonnegative().optional(),
  }).optional(),
});

// ── cluster (§5.5) ───────────────────────────────────────────────────────────────

export const ClusterManifest = z.strictObject({
  ...common,
  settings: FieldTable.optional(),
  cluster: z.strictObject({ components: z.array(ClusterComponent).min(1) }),
});

/** Any manifest (for JSON Schema export); validation picks the kind's schema first. */
export const ExtensionManifest = z.union([TaskservManifest, ProviderManifest, ClusterManifest]);

export type ExtensionInfo = z.infer<typeof ExtensionInfo>;
export type Check = z.infer<typeof Check>;
export type TaskservManifest = z.infer<typeof TaskservManifest>;
export type ProviderManifest = z.infer<typeof ProviderManifest>;
export type ClusterManifest = z.infer<typeof ClusterManifest>;
export type ExtensionManifest = TaskservManifest | ProviderManifest | ClusterManifest;
export type Capability = (typeof CAPABILITIES)[number];

/** The schema for a raw manifest, chosen by its `extension.kind` (the common part when unknown). */
export function manifestSchemaFor(raw: unknown): z.ZodType {
  const kind = isTable(raw) && isTable(raw.extension) ? raw.extension.kind : undefined;
  if (kind === 'taskserv') return TaskservManifest;
  if (kind === 'provider') return ProviderManifest;
  if (kind === 'cluster') return ClusterManifest;
  return z.looseObject({ extension: ExtensionInfo });
}
