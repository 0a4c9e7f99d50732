import type { AreaSpec } from './types.js';

/** Areas (first word) with their aliases and help category (spec/cli.md §4, §11–29). */
export const AREAS: AreaSpec[] = [
  { name: 'workspace', aliases: ['ws'], summary: 'create, register, switch, back up and migrate workspaces', category: 'workspace', phase: 'core' },
  { name: 'config', aliases: [], summary: 'layered configuration: show with origins, get, set, validate', category: 'configuration', phase: 'core' },
  { name: 'env', aliases: ['e'], summary: 'active workspace, infra, environment and paths', category: 'configuration', phase: 'core', default: 'show' },
  { name: 'validate', aliases: ['val'], summary: 'validate config, infra definitions, workflows and extensions', category: 'configuration', phase: 'core', default: 'all' },
  { name: 'show', aliases: [], summary: 'read-only views of resolved definitions and state', category: 'infrastructure', phase: 'core' },
  { name: 'list', aliases: ['l', 'ls'], summary: 'shorthand for `<kind> list`', category: 'infrastructure', phase: 'core' },
  { name: 'infra', aliases: ['i', 'infras'], summary: 'infras of the workspace: list, show, validate, create, delete', category: 'infrastructure', phase: 'core' },
  { name: 'generate', aliases: ['g', 'gen'], summary: 'write definition skeletons into the selected infra', category: 'development', phase: 'core' },
  { name: 'schema', aliases: [], summary: 'JSON Schema of definitions and config for editors', category: 'development', phase: 'core' },
  { name: 'server', aliases: ['s', 'servers'], summary: 'create, list, ssh into and delete servers', category: 'infrastructure', phase: 'core' },
  { name: 'taskserv', aliases: ['t', 'task', 'taskservs'], summary: 'install, verify and remove services on servers', category: 'infrastructure', phase: 'core' },
  { name: 'cluster', aliases: ['cl', 'clusters'], summary: 'deploy groups of taskservs in dependency order', category: 'infrastructure', phase: 'core' },
  { name: 'workflow', aliases: ['wf', 'flow', 'workflows'], summary: 'runs of the workflow engine: list, monitor, cancel, resume, roll back', category: 'orchestration', phase: 'core' },
  { name: 'batch', aliases: ['bat'], summary: 'batch workflow files: submit, validate, monitor', category: 'orchestration', phase: 'core' },
  { name: 'orchestrator', aliases: ['orch'], summary: 'the orchestrator service: start, stop, status, health, logs', category: 'orchestration', phase: 'core' },
  { name: 'platform', aliases: ['plat', 'services'], summary: 'platform services in dependency order', category: 'platform', phase: 'phase_2' },
  { name: 'mode', aliases: [], summary: 'solo, multiuser, cicd and enterprise modes', category: 'platform', phase: 'phase_2' },
  { name: 'extension', aliases: ['extensions'], summary: 'extensions: list, info, scaffold, validate, test', category: 'development', phase: 'phase_2' },
  { name: 'module', aliases: ['mod'], summary: 'load extensions into a layer', category: 'development', phase: 'phase_2' },
  { name: 'layer', aliases: ['lyr'], summary: 'the extension layers core → workspace → infra', category: 'development', phase: 'phase_2' },
  { name: 'provider', aliases: ['providers'], summary: 'providers: list, info, validate, test', category: 'infrastructure', phase: 'phase_2' },
  { name: 'dep', aliases: [], summary: 'extension dependencies: resolve, tree, updates', category: 'development', phase: 'phase_2' },
  { name: 'oci', aliases: [], summary: 'OCI artifacts for extensions: package, push, pull', category: 'development', phase: 'phase_2' },
  { name: 'pack', aliases: [], summary: 'package extensions into the local cache', category: 'development', phase: 'phase_2' },
  { name: 'template', aliases: ['tpl', 'tmpl'], summary: 'reusable definition fragments and starter workspaces', category: 'development', phase: 'phase_2' },
  { name: 'auth', aliases: [], summary: 'log in and out of the control center, sessions, tokens', category: 'security', phase: 'phase_2' },
  { name: 'mfa', aliases: [], summary: 'second factors: TOTP, WebAuthn, backup codes', category: 'security', phase: 'phase_2' },
  { name: 'user', aliases: [], summary: 'users of the control center (admin)', category: 'security', phase: 'phase_2' },
  { name: 'policy', aliases: ['cedar'], summary: 'Cedar authorization policies', category: 'security', phase: 'phase_2' },
  { name: 'kms', aliases: [], summary: 'encrypt and decrypt with age, AWS KMS or Vault Transit', category: 'security', phase: 'phase_2' },
  { name: 'secrets', aliases: [], summary: 'workspace secret store and short-lived credentials', category: 'security', phase: 'phase_2' },
  { name: 'ssh', aliases: [], summary: 'temporary SSH keys with a TTL', category: 'security', phase: 'phase_2' },
  { name: 'audit', aliases: [], summary: 'the tamper-evident audit log', category: 'security', phase: 'phase_2' },
  { name: 'compliance', aliases: [], summary: 'compliance reports, GDPR requests, incidents', category: 'security', phase: 'phase_2' },
  { name: 'break-glass', aliases: [], summary: 'time-boxed elevated access after two approvals', category: 'security', phase: 'phase_2' },
  { name: 'test', aliases: ['tst'], summary: 'throw-away test environments on the local provider', category: 'development', phase: 'phase_2' },
  { name: 'mcp', aliases: [], summary: 'Model Context Protocol server for AI agents', category: 'platform', phase: 'phase_2' },
  { name: 'version', aliases: [], summary: 'CLI version', category: 'configuration', phase: 'core', default: 'show' },
  { name: 'health', aliases: [], summary: 'health of platform, providers, servers, taskservs, clusters', category: 'platform', phase: 'phase_2', default: 'check' },
  { name: 'status', aliases: [], summary: 'one screen: workspace, infra, services, workflows', category: 'platform', phase: 'phase_2', default: 'show' },
  { name: 'setup', aliases: ['st'], summary: 'guided first-time setup', category: 'configuration', phase: 'phase_2', default: 'system' },
  { name: 'guide', aliases: [], summary: 'step-by-step guides and the shortcut cheat sheet', category: 'configuration', phase: 'core', default: 'show' },
  { name: 'completion', aliases: [], summary: 'shell completion script for bash, zsh or fish', category: 'configuration', phase: 'core', default: 'script' },
  { name: 'cache', aliases: [], summary: 'extension, OCI and template caches', category: 'configuration', phase: 'phase_2' },
  { name: 'help', aliases: ['h'], summary: 'help for areas, commands and categories', category: 'configuration', phase: 'core', default: 'show' },
];

/**
 * Whole-command shortcuts (spec/cli.md §4): the first word expands to several words.
 * Single-word area aliases live on the areas above.
 */
export const SHORTCUTS: Record<string, string[]> = {
  init: ['workspace', 'init'],
  login: ['auth', 'login'],
  logout: ['auth', 'logout'],
  whoami: ['auth', 'status'],
  sc: ['guide', 'shortcuts'],
  price: ['server', 'price'],
  cost: ['server', 'price'],
  costs: ['server', 'price'],
  cst: ['infra', 'create'],
  csts: ['infra', 'create'],
  dt: ['module', 'discover'],
  allenv: ['env', '--all'],
  sops: ['config', 'edit-secure'],
  'oci-registry': ['platform', '<action>', 'oci-registry'],
};

/** Second-word shortcuts valid in any area that has the action. */
export const ACTION_SHORTCUTS: Record<string, string> = { c: 'create', d: 'delete', u: 'update' };
