import { F } from './flags.js';
import type { CommandDecl, FlagSpec } from './types.js';

/**
 * Every command of spec/cli.md, as data. A command with `handler` runs; one with `pending`
 * is registered (help, completion, metadata) and says plainly which issue brings it (exit 2).
 */

const DEFS = 'issue #3 (definitions, extensions and check-mode plans)';
const SERVERS = 'issue #4 (providers, servers and transports)';
const LATER = (what: string) => `a later issue (${what})`;

const h = (module: string, exp: string) => ({ handler: { module, export: exp } });
const s = (name: string, summary: string, extra: Partial<FlagSpec> = {}): FlagSpec => ({ name, type: 'string', value: `<${name}>`, summary, ...extra });
const b = (name: string, summary: string, extra: Partial<FlagSpec> = {}): FlagSpec => ({ name, type: 'boolean', summary, ...extra });
const arg = (name: string, required = false, variadic = false) => ({ name, required, variadic });

export const COMMANDS: CommandDecl[] = [
  // ── workspace (§11) ─────────────────────────────────────────────────────────────
  { command: 'workspace init', aliases: ['create'], summary: 'create a workspace from a template, register it and make it active',
    side_effect: 'write', requires_auth: false, category: 'workspace', args: [arg('name', true), arg('path')],
    flags: [{ ...F.template, choices: ['minimal', 'local', 'full'] }, F.provider, b('activate', 'make the new workspace active (--no-activate keeps the current one)'), b('overwrite', 'write into a non-empty directory')],
    examples: ['provisioning workspace init demo --template local', 'prov init shop ~/work/shop --template full --no-activate'], ...h('workspace', 'init') },
  { command: 'workspace list', summary: 'registered workspaces with the active one marked', side_effect: 'read', requires_auth: false, category: 'workspace', ...h('workspace', 'list') },
  { command: 'workspace active', summary: 'print the active workspace name', side_effect: 'read', requires_auth: false, category: 'workspace', ...h('workspace', 'active') },
  { command: 'workspace info', summary: 'path, infras, defaults, mode, providers, format version, state size', side_effect: 'read', requires_auth: false, category: 'workspace', args: [arg('name')], ...h('workspace', 'info') },
  { command: 'workspace activate', aliases: ['switch'], summary: 'make a workspace (and optionally its default infra) active', side_effect: 'write', requires_auth: false, category: 'workspace',
    args: [arg('name[:infra]', true)], examples: ['prov ws activate shop', 'prov ws switch shop:web'], ...h('workspace', 'activate') },
  { command: 'workspace register', summary: 'register an existing workspace directory', side_effect: 'write', requires_auth: false, category: 'workspace',
    args: [arg('name', true), arg('path', true)], flags: [b('activate', 'also make it active')], ...h('workspace', 'register') },
  { command: 'workspace remove', summary: 'unregister a workspace; its files stay', side_effect: 'write', requires_auth: false, category: 'workspace', confirm: true, args: [arg('name', true)], ...h('workspace', 'remove') },
  { command: 'workspace delete', summary: 'unregister a workspace and delete its directory (type the name to confirm)', side_effect: 'delete', requires_auth: false, category: 'workspace', args: [arg('name', true)], ...h('workspace', 'remove') },
  { command: 'workspace validate', summary: 'layout, config and format-version compatibility', side_effect: 'read', requires_auth: false, category: 'workspace', args: [arg('name')], flags: [F.strict], ...h('workspace', 'validate') },
  { command: 'workspace migrate', summary: 'upgrade the workspace format (backs up first)', side_effect: 'write', requires_auth: false, category: 'workspace', confirm: true,
    args: [arg('name')], flags: [s('target-version', 'format version to migrate to'), b('skip-backup', 'do not write a backup archive first')], ...h('workspace', 'migrate') },
  { command: 'workspace backup', summary: 'archive definitions and config (not the state cache)', side_effect: 'write', requires_auth: false, category: 'workspace', args: [arg('name')], flags: [F.output], ...h('workspace', 'backup') },
  { command: 'workspace restore', summary: 'restore a backup archive (refuses to overwrite without --force)', side_effect: 'write', requires_auth: false, category: 'workspace', args: [arg('archive', true)], flags: [F.force, s('path', 'directory to restore into (default: the archived workspace path)')], ...h('workspace', 'restore') },
  { command: 'workspace list-backups', summary: 'known backup archives', side_effect: 'read', requires_auth: false, category: 'workspace', args: [arg('name')], ...h('workspace', 'listBackups') },
  { command: 'workspace lock', summary: 'hold the infra lock manually (maintenance); mutating runs then fail with exit 6', side_effect: 'write', category: 'workspace',
    flags: [F.reason, F.ttl, s('lock-timeout', 'wait this long for a lock held by a run (default: fail at once, exit 6)')], examples: ['prov ws lock --reason "db maintenance" --ttl 2h'], ...h('locks', 'lock') },
  { command: 'workspace unlock', summary: 'release your lock; --force releases anybody\'s', side_effect: 'write', category: 'workspace', flags: [F.force], ...h('locks', 'unlock') },
  { command: 'workspace lock-status', summary: 'who holds which lock, since when, for which command', side_effect: 'read', category: 'workspace', ...h('locks', 'status') },

  // ── config (§12.1, §25.2) ───────────────────────────────────────────────────────
  { command: 'config show', summary: 'merged configuration, or one subtree; --origin names the layer of each value', side_effect: 'read', requires_auth: false, category: 'configuration',
    args: [arg('key')], flags: [b('origin', 'tag each value with its layer and file'), F.scope], examples: ['prov config show --origin', 'prov config show orchestrator.port --origin'], ...h('config', 'show') },
  { command: 'config get', summary: 'one value, raw (exit 5 if unset)', side_effect: 'read', requires_auth: false, category: 'configuration', args: [arg('key', true)], ...h('config', 'get') },
  { command: 'config set', summary: 'write one key to a layer\'s file (validated first)', side_effect: 'write', requires_auth: false, category: 'configuration',
    args: [arg('key', true), arg('value', true)], flags: [F.scope], examples: ['prov config set execution.parallel_limit 8', 'prov config set output.format json --scope user'], ...h('config', 'set') },
  { command: 'config unset', summary: 'remove a key from one layer', side_effect: 'write', requires_auth: false, category: 'configuration', args: [arg('key', true)], flags: [F.scope], ...h('config', 'unset') },
  { command: 'config edit', summary: 'open a layer\'s file in $EDITOR; validates on save', side_effect: 'write', requires_auth: false, interactive: true, category: 'configuration', flags: [F.scope], ...h('config', 'edit') },
  { command: 'config sources', aliases: ['hierarchy'], summary: 'the precedence chain with each layer\'s file and whether it exists', side_effect: 'read', requires_auth: false, category: 'configuration', ...h('config', 'sources') },
  { command: 'config paths', summary: 'resolved config, data, cache and workspace state directories', side_effect: 'read', requires_auth: false, category: 'configuration', ...h('config', 'paths') },
  { command: 'config init', summary: 'write a commented starter file for a layer', side_effect: 'write', requires_auth: false, category: 'configuration',
    flags: [{ ...F.scope, choices: ['user', 'workspace'] }, s('environment', 'environment file to create'), F.force], ...h('config', 'init') },
  { command: 'config validate', summary: 'same as `validate config`', side_effect: 'read', requires_auth: false, category: 'configuration', args: [arg('file')], flags: [F.strict, b('decrypt', 'also decrypt every encrypted value once')], ...h('config', 'validate') },
  { command: 'config init-encryption', summary: 'create keys, recipients and encryption rules', side_effect: 'write', category: 'security', phase: 'phase_2', flags: [F.backend], pending: LATER('KMS and secrets') },
  { command: 'config encrypt', summary: 'encrypt the sensitive values of a config file', side_effect: 'write', category: 'security', phase: 'phase_2', args: [arg('file', true)], flags: [F.inPlace, F.output, F.backend, F.key], pending: LATER('KMS and secrets') },
  { command: 'config decrypt', summary: 'decrypt a config file (to stdout by default)', side_effect: 'read', category: 'security', phase: 'phase_2', args: [arg('file', true)], flags: [F.inPlace, F.output], pending: LATER('KMS and secrets') },
  { command: 'config edit-secure', summary: 'decrypt to a temp file, edit, re-encrypt, wipe', side_effect: 'write', interactive: true, category: 'security', phase: 'phase_2', args: [arg('file', true)], pending: LATER('KMS and secrets') },
  { command: 'config rotate-keys', summary: 're-encrypt with a new key', side_effect: 'write', category: 'security', phase: 'phase_2', args: [arg('file', true)], flags: [F.key], pending: LATER('KMS and secrets') },
  { command: 'config is-encrypted', summary: 'exit 0 if encrypted, 1 if not', side_effect: 'read', category: 'security', phase: 'phase_2', args: [arg('file', true)], pending: LATER('KMS and secrets') },
  { command: 'config encryption-info', summary: 'backend, key id, encrypted keys', side_effect: 'read', category: 'security', phase: 'phase_2', args: [arg('file', true)], pending: LATER('KMS and secrets') },
  { command: 'config scan-sensitive', summary: 'find likely plaintext secrets', side_effect: 'read', category: 'security', phase: 'phase_2', args: [arg('dir', true)], flags: [F.recursive], pending: LATER('KMS and secrets') },
  { command: 'config encrypt-all', summary: 'encrypt every sensitive file found', side_effect: 'write', category: 'security', phase: 'phase_2', args: [arg('dir', true)], flags: [F.recursive, F.backend], pending: LATER('KMS and secrets') },
  { command: 'config validate-encryption', summary: 'tools, keys and rules usable', side_effect: 'read', category: 'security', phase: 'phase_2', pending: LATER('KMS and secrets') },

  // ── env (§12.2) ─────────────────────────────────────────────────────────────────
  { command: 'env show', summary: 'active workspace, infra, environment, mode, paths and PROVISIONING_* variables', side_effect: 'read', requires_auth: false, category: 'configuration',
    flags: [b('export', 'print shell export lines'), b('all', 'add the full merged configuration')], ...h('env', 'show') },
  { command: 'env list', summary: 'environments defined in the workspace', side_effect: 'read', requires_auth: false, category: 'configuration', ...h('env', 'list') },
  { command: 'env switch', aliases: ['set'], summary: 'set the workspace\'s default environment', side_effect: 'write', requires_auth: false, category: 'configuration', args: [arg('name', true)], ...h('env', 'switch') },

  // ── validate (§12.3) ────────────────────────────────────────────────────────────
  { command: 'validate all', summary: 'everything for the resolved workspace (the CI entry point)', side_effect: 'read', requires_auth: false, category: 'configuration', flags: [F.strict], ...h('config', 'validateAll') },
  { command: 'validate config', summary: 'config files: TOML syntax, schema, unknown keys, interpolation', side_effect: 'read', requires_auth: false, category: 'configuration',
    args: [arg('file')], flags: [F.strict, b('decrypt', 'also decrypt every encrypted value once')], ...h('config', 'validate') },
  { command: 'validate infra', summary: 'infra definitions: schema, references, cycles, conflicts', side_effect: 'read', requires_auth: false, category: 'configuration', args: [arg('name')], flags: [F.strict], examples: ['prov validate infra shop --environment prod', 'prov val infra --strict'], ...h('infra', 'validateInfra') },
  { command: 'validate workflow', summary: 'a workflow file: schema and dependency graph (same as `batch validate`)', side_effect: 'read', requires_auth: false, category: 'configuration', args: [arg('file', true)], ...h('workflows', 'validate') },
  { command: 'validate extension', summary: 'an extension directory: manifest, schema, file references, template syntax (every problem)', side_effect: 'read', requires_auth: false, category: 'configuration',
    args: [arg('path', true)], examples: ['prov validate extension extensions/taskservs/redis'], ...h('extensions', 'extensionValidate') },

  // ── show / list (§12.4) ─────────────────────────────────────────────────────────
  { command: 'show settings', summary: 'the resolved infra definition: servers with defaults applied, taskservs per server, clusters', side_effect: 'read', category: 'infrastructure', examples: ['prov show settings --infra shop --out json'], ...h('infra', 'showSettings') },
  { command: 'show servers', summary: 'servers as defined plus their recorded state', side_effect: 'read', category: 'infrastructure', args: [arg('name')], ...h('infra', 'showServers') },
  { command: 'show taskservs', summary: 'taskservs per server, versions, recorded state', side_effect: 'read', category: 'infrastructure', flags: [F.servers], ...h('infra', 'showTaskservs') },
  { command: 'show taskserv', summary: 'resolved settings of one taskserv and its rendered files', side_effect: 'read', category: 'infrastructure', args: [arg('name', true)], flags: [F.servers], ...h('infra', 'showTaskserv') },
  { command: 'show clusters', summary: 'clusters and their member taskservs', side_effect: 'read', category: 'infrastructure', ...h('infra', 'showClusters') },
  { command: 'show costs', summary: 'estimated cost per server and total per currency, from provider pricing', side_effect: 'read', category: 'infrastructure', flags: [{ ...F.all, summary: 'every infra of the workspace' }], ...h('infra', 'showCosts') },
  { command: 'list workspaces', summary: 'same as `workspace list`', side_effect: 'read', requires_auth: false, category: 'workspace', ...h('workspace', 'list') },
  ...['servers', 'taskservs', 'clusters', 'infras', 'providers', 'extensions', 'workflows'].map((kind): CommandDecl => ({
    command: `list ${kind}`, summary: `same as \`${kind.replace(/s$/, '')} list\``, side_effect: 'read', category: 'infrastructure',
    ...(kind === 'workflows' ? { category: 'orchestration', flags: [F.status, s('type', 'filter by type: server, taskserv, cluster, batch, custom'), F.from, { ...F.limit, summary: 'maximum number of runs (default 20)' }] } : {}),
    ...(kind === 'infras' ? h('infra', 'infraList')
      : kind === 'clusters' ? h('taskservs', 'clusterList')
      : ['providers', 'taskservs', 'extensions'].includes(kind) ? h('extensions', `${kind.replace(/s$/, '')}List`)
        : kind === 'servers' ? h('servers', 'list') : kind === 'workflows' ? h('workflows', 'list') : { pending: DEFS }),
  })),

  // ── infra, generate, schema (§13) ───────────────────────────────────────────────
  { command: 'infra list', summary: 'infras in the workspace: file, environment, providers, servers, status; * marks the selected one', side_effect: 'read', category: 'infrastructure', ...h('infra', 'infraList') },
  { command: 'infra show', summary: 'same as `show settings`', side_effect: 'read', category: 'infrastructure', args: [arg('name')], ...h('infra', 'showSettings') },
  { command: 'infra validate', summary: 'same as `validate infra`', side_effect: 'read', requires_auth: false, category: 'infrastructure', args: [arg('name')], flags: [F.strict], ...h('infra', 'validateInfra') },
  { command: 'infra create', summary: 'servers, then taskservs, then clusters, as one workflow', side_effect: 'write', long_running: true, category: 'infrastructure', flags: [F.parallel], ...h('plan', 'infra') },
  { command: 'infra delete', summary: 'tear the infra down in reverse order (type its name to confirm)', side_effect: 'delete', long_running: true, category: 'infrastructure', flags: [b('keep-storage', 'keep volumes')], ...h('plan', 'infra') },
  { command: 'generate infra', summary: 'new infra/<name>/ with settings.ts', side_effect: 'write', category: 'development', args: [arg('name')], flags: [{ ...F.template, summary: 'infra template: default, minimal, web' }, F.provider, s('from', 'copy another infra'), s('new', 'alias of the positional name'), { ...F.force, summary: 'replace the settings file of an existing infra' }],
    examples: ['prov generate infra web --template web --provider upcloud', 'prov g infra staging --from shop --check'], ...h('infra', 'generateInfra') },
  { command: 'generate server', summary: 'add a server definition skeleton', side_effect: 'write', category: 'development', args: [arg('name')], flags: [s('plan', 'provider plan'), F.provider], ...h('infra', 'generateServer') },
  { command: 'generate taskserv', summary: 'add a taskserv entry with its defaults', side_effect: 'write', category: 'development', args: [arg('name', true)], flags: [{ ...F.servers, summary: 'only these servers (default: every server)' }], ...h('infra', 'generateTaskserv') },
  { command: 'generate cluster', summary: 'add a cluster entry with its member taskservs', side_effect: 'write', category: 'development', args: [arg('name', true)], ...h('infra', 'generateCluster') },
  { command: 'generate extension', summary: 'scaffold an extension', side_effect: 'write', category: 'development', phase: 'phase_2', args: [arg('kind', true), arg('name', true)], pending: DEFS },
  { command: 'schema list', summary: 'schema kinds and their versions', side_effect: 'none', requires_auth: false, category: 'development', ...h('infra', 'schemaList') },
  { command: 'schema show', summary: 'the JSON Schema of one kind', side_effect: 'none', requires_auth: false, category: 'development', args: [arg('kind', true)], examples: ['prov schema show infra > infra.schema.json'], ...h('infra', 'schemaShow') },
  { command: 'schema export', summary: 'write JSON Schema files for editors', side_effect: 'write', requires_auth: false, min_permission: 'read', category: 'development', flags: [s('output-dir', 'target directory (default <workspace>/.provisioning/schemas)'), { ...F.kind, multiple: true, value: '<kind,…>', summary: 'only these kinds: infra, server, taskserv, cluster, workflow, extension, config' }], ...h('infra', 'schemaExport') },

  // ── server (§14) ────────────────────────────────────────────────────────────────
  { command: 'server create', summary: 'create the defined servers through their provider', side_effect: 'write', long_running: true, category: 'infrastructure', args: [arg('name', false, true)], flags: [{ ...F.servers, summary: 'only these servers (same as naming them)' }, F.parallel, F.lockTimeout],
    examples: ['prov server create --yes --wait', 'prov s c web-01 --check'], ...h('plan', 'server') },
  { command: 'server delete', summary: 'delete servers and the taskservs on them', side_effect: 'delete', long_running: true, requires_mfa: true, category: 'infrastructure', args: [arg('name', false, true)],
    flags: [{ ...F.servers, summary: 'only these servers (same as naming them)' }, b('keep-storage', 'keep volumes', { aliases: ['keepstorage'] }), F.force, F.parallel, F.lockTimeout], ...h('plan', 'server') },
  { command: 'server list', summary: 'name, provider, plan, cores, memory, disk, IP, status', side_effect: 'read', category: 'infrastructure', flags: [F.status, F.all, b('refresh', 'ask the providers for the current state; shows drift (missing, stopped, unmanaged)')], ...h('servers', 'list') },
  { command: 'server status', aliases: ['info'], summary: 'provider state, reachability, taskservs, last operation', side_effect: 'read', category: 'infrastructure', args: [arg('name', true)], ...h('servers', 'status') },
  { command: 'server ssh', aliases: ['exec'], summary: 'interactive shell, or run a command and exit with its code', side_effect: 'write', interactive: true, category: 'infrastructure', args: [arg('name', true)],
    flags: [s('user', 'remote user'), { ...F.key, name: 'key', summary: 'private key file', aliases: [] }, s('port', 'SSH port'), s('command', 'same as -- <cmd>')],
    examples: ['prov server ssh web-01', 'prov server ssh web-01 -- uname -a', 'prov s exec db-01 --command "df -h /"'], ...h('servers', 'ssh') },
  { command: 'server start', summary: 'power on through the provider', side_effect: 'write', category: 'infrastructure', args: [arg('name', false, true)], flags: [{ ...F.servers, summary: 'only these servers (same as naming them)' }, F.parallel, F.lockTimeout], ...h('plan', 'server') },
  { command: 'server stop', summary: 'power off through the provider', side_effect: 'write', confirm: true, category: 'infrastructure', args: [arg('name', false, true)], flags: [{ ...F.servers, summary: 'only these servers (same as naming them)' }, F.parallel, F.lockTimeout], ...h('plan', 'server') },
  { command: 'server restart', summary: 'restart through the provider', side_effect: 'write', category: 'infrastructure', args: [arg('name', false, true)], flags: [{ ...F.servers, summary: 'only these servers (same as naming them)' }, F.parallel, F.lockTimeout], ...h('plan', 'server') },
  { command: 'server update', summary: 'apply definition changes in place; replace only with --allow-replace', side_effect: 'write', long_running: true, category: 'infrastructure', args: [arg('name', false, true)],
    flags: [b('allow-replace', 'allow changes that need a new server'), F.rolling], ...h('plan', 'server') },
  { command: 'server logs', summary: 'provider console / container log', side_effect: 'read', category: 'infrastructure', args: [arg('name', true)], flags: [F.lines, F.follow], pending: SERVERS },
  { command: 'server price', summary: 'price per server and total (same as `show costs`)', side_effect: 'read', category: 'infrastructure', flags: [b('monthly', 'monthly figures')], ...h('infra', 'showCosts') },

  // ── taskserv (§15) ──────────────────────────────────────────────────────────────
  { command: 'taskserv create', aliases: ['install'], summary: 'install → configure → start → readiness → smoke test', side_effect: 'write', long_running: true, category: 'infrastructure',
    args: [arg('name', false, true)], flags: [F.servers, F.version, F.force], ...h('plan', 'taskserv') },
  { command: 'taskserv delete', summary: 'stop and uninstall', side_effect: 'delete', long_running: true, category: 'infrastructure', args: [arg('name', true, true)], flags: [F.servers, b('cleanup-data', 'also delete data'), F.force], ...h('plan', 'taskserv') },
  { command: 'taskserv list', summary: 'installed taskservs, or the catalogue with --available: name, version, category, layer', side_effect: 'read', requires_auth: false, category: 'infrastructure',
    flags: [b('installed', 'installed taskservs of the infra (the default inside an infra)'), b('available', 'the catalogue of all layers'),
      s('category', 'filter by category', { choices: ['container_runtime', 'kubernetes', 'networking', 'storage', 'database', 'observability', 'security', 'development', 'misc'] }),
      s('search', 'text in name, description, category or keywords')],
    examples: ['prov taskserv list --available --category database'], ...h('extensions', 'taskservList') },
  { command: 'taskserv show', summary: 'a catalogue entry: version, layer, dependencies, resources, settings, templates, scripts, checks', side_effect: 'read', requires_auth: false, category: 'infrastructure',
    args: [arg('name', true)], ...h('extensions', 'taskservShow') },
  { command: 'taskserv status', summary: 'recorded state plus a readiness probe per server', side_effect: 'read', category: 'infrastructure', args: [arg('name', true)], flags: [F.servers], ...h('taskservs', 'status') },
  { command: 'taskserv check', summary: 'run readiness and the smoke test again; exit 1 if any fails', side_effect: 'read', category: 'infrastructure', args: [arg('name', true)], flags: [F.servers], ...h('taskservs', 'check') },
  { command: 'taskserv logs', summary: 'service logs from the servers: journal units <name>*, /var/log/<name>…', side_effect: 'read', category: 'infrastructure', args: [arg('name', true)], flags: [F.servers, { ...F.lines, summary: 'lines per server (default 100)' }, F.follow], ...h('taskservs', 'logs') },
  { command: 'taskserv start', summary: 'start the service, then its readiness checks', side_effect: 'write', category: 'infrastructure', args: [arg('name', true)], flags: [F.servers], ...h('taskservs', 'start') },
  { command: 'taskserv stop', summary: 'stop the service', side_effect: 'write', confirm: true, category: 'infrastructure', args: [arg('name', true)], flags: [F.servers], ...h('taskservs', 'stop') },
  { command: 'taskserv restart', summary: 'restart the service (its restart script, or stop + start), then its readiness checks', side_effect: 'write', category: 'infrastructure', args: [arg('name', true)], flags: [F.servers], ...h('taskservs', 'restart') },
  { command: 'taskserv configure', summary: 're-render templates, apply, restart, re-verify', side_effect: 'write', category: 'infrastructure', args: [arg('name', true, true)], flags: [F.servers, F.rolling, F.parallel, F.lockTimeout], ...h('plan', 'taskserv') },
  { command: 'taskserv generate', summary: 'add the taskserv to the infra definition; --scaffold writes a new taskserv extension', side_effect: 'write', category: 'development', args: [arg('name', true)],
    flags: [{ ...F.servers, summary: 'only these servers (default: every server)' }, b('scaffold', 'write a new taskserv extension to <workspace>/extensions/taskservs/<name>/'), { ...F.force, summary: 'with --scaffold: write over an existing directory, or shadow a taskserv of another layer' }],
    examples: ['prov taskserv generate redis --servers db-01', 'prov taskserv generate greeter --scaffold'], ...h('taskservs', 'generate') },
  { command: 'taskserv validate', summary: 'manifest, templates, settings defaults and dependency constraints, no servers touched', side_effect: 'read', requires_auth: false, category: 'infrastructure', args: [arg('name', true)],
    flags: [s('level', 'static (manifest, files, templates, defaults), dependencies, or all (default)', { choices: ['static', 'dependencies', 'all'] })], ...h('extensions', 'taskservValidate') },
  { command: 'taskserv deps', aliases: ['check-deps'], summary: 'install order on one server with why each is there; conflicts and provides', side_effect: 'read', requires_auth: false, category: 'infrastructure',
    args: [arg('name', true)], examples: ['prov taskserv deps kubernetes'], ...h('extensions', 'taskservDependencies') },
  { command: 'taskserv versions', summary: 'available versions and the one each server runs', side_effect: 'read', category: 'infrastructure', args: [arg('name', true)], ...h('taskservs', 'versions') },
  { command: 'taskserv check-updates', summary: 'newer versions for installed taskservs', side_effect: 'read', category: 'infrastructure', args: [arg('name')], flags: [b('security-only', 'security updates only (manifests carry no advisories yet: exit 2)')], ...h('taskservs', 'checkUpdates') },
  { command: 'taskserv update', aliases: ['upgrade'], summary: 'upgrade in place, re-verify, roll back on failure', side_effect: 'write', long_running: true, category: 'infrastructure',
    args: [arg('name', true, true)], flags: [F.version, F.servers, { ...F.rolling, summary: 'one server at a time; a failure stops the rest' }, F.parallel, F.lockTimeout], ...h('plan', 'taskserv') },

  // ── cluster (§16) ───────────────────────────────────────────────────────────────
  { command: 'cluster create', summary: 'deploy the cluster\'s taskservs in dependency order', side_effect: 'write', long_running: true, category: 'infrastructure', args: [arg('name', true)], flags: [F.servers], ...h('plan', 'cluster') },
  { command: 'cluster delete', summary: 'remove its taskservs in reverse order', side_effect: 'delete', long_running: true, category: 'infrastructure', args: [arg('name', true)], flags: [b('keep-volumes', 'keep volumes')], ...h('plan', 'cluster') },
  { command: 'cluster list', summary: 'clusters of the infra: name, member taskservs, servers, status; --available: the catalog', side_effect: 'read', requires_auth: false, category: 'infrastructure',
    flags: [b('available', 'the clusters of the catalog: name, version, layer, member taskservs')], ...h('taskservs', 'clusterList') },
  { command: 'cluster show', summary: 'a cluster: components, placement, order, settings schema', side_effect: 'read', requires_auth: false, category: 'infrastructure', args: [arg('name', true)], ...h('extensions', 'clusterShow') },
  { command: 'cluster status', summary: 'per component: server, state, last check', side_effect: 'read', category: 'infrastructure', args: [arg('name', true)], ...h('taskservs', 'clusterStatus') },
  { command: 'cluster generate', summary: 'add a cluster definition skeleton', side_effect: 'write', category: 'development', args: [arg('name', true)], pending: DEFS },
  { command: 'cluster validate', summary: 'members, versions, `after` references and order (no cycle) without touching servers', side_effect: 'read', requires_auth: false, category: 'infrastructure',
    args: [arg('name', true)], ...h('extensions', 'clusterValidate') },

  // ── workflow, batch, orchestrator (§17–19) ──────────────────────────────────────
  { command: 'workflow list', summary: 'runs: id, type, status, progress, started, duration, origin', side_effect: 'read', category: 'orchestration',
    flags: [{ ...F.status, summary: 'filter by status (comma-separated)' }, s('type', 'filter by type: server, taskserv, cluster, batch, custom'), F.from, { ...F.limit, summary: 'maximum number of runs (default 20)' }],
    examples: ['prov wf list --status failed --from 7d'], ...h('workflows', 'list') },
  { command: 'workflow status', summary: 'steps, progress, last checkpoint, errors', side_effect: 'read', category: 'orchestration', args: [arg('id', true)], ...h('workflows', 'status') },
  { command: 'workflow monitor', summary: 'live progress until a terminal state; exit code from the outcome', side_effect: 'read', long_running: true, category: 'orchestration', args: [arg('id', true)],
    examples: ['prov wf monitor wf_01JB2R6M4ZQ8V7X0S3K9T1N5PD', 'prov wf monitor <id> --out json   # NDJSON events, then a summary'], ...h('workflows', 'monitor') },
  { command: 'workflow logs', summary: 'output of the steps', side_effect: 'read', category: 'orchestration', args: [arg('id', true)], flags: [s('step', 'only this operation'), F.follow], ...h('workflows', 'logs') },
  { command: 'workflow cancel', summary: 'stop scheduling, cancel running steps, mark cancelled', side_effect: 'write', confirm: true, category: 'orchestration', args: [arg('id', true)], flags: [F.reason], ...h('workflows', 'cancel') },
  { command: 'workflow resume', aliases: ['retry'], summary: 'continue from the last checkpoint (retries the failed step)', side_effect: 'write', long_running: true, category: 'orchestration', args: [arg('id', true)], ...h('workflows', 'resume') },
  { command: 'workflow rollback', summary: 'compensate completed steps in reverse order', side_effect: 'write', confirm: true, long_running: true, category: 'orchestration', args: [arg('id', true)],
    flags: [{ ...F.force, summary: 'also roll back a completed workflow' }, F.reason], ...h('workflows', 'rollback') },
  { command: 'workflow stats', summary: 'counts by status and type, durations, success rate', side_effect: 'read', category: 'orchestration', flags: [F.from], ...h('workflows', 'stats') },
  { command: 'workflow cleanup', summary: 'delete finished run records (default: completed, older than 30d)', side_effect: 'delete', category: 'orchestration',
    flags: [s('older-than', 'age of records to delete (default 30d)'), { ...F.status, summary: 'finished statuses to delete (default completed)' }], ...h('workflows', 'cleanup') },
  ...(['workflow submit', 'batch submit'] as const).map((command): CommandDecl => ({
    command, summary: command === 'batch submit' ? 'validate and run a batch workflow file (direct or on the orchestrator)' : 'alias of `batch submit`', side_effect: 'write', long_running: true, category: 'orchestration', args: [arg('file', true)],
    flags: [s('parallel-limit', 'maximum parallel operations (1-100)'), b('rollback', 'roll back on failure (--no-rollback disables)'), s('priority', 'queue priority 0-100 (default 50)')],
    examples: ['prov batch submit workflows/rollout.ts --check', 'prov batch submit workflows/rollout.toml --orchestrated --wait --timeout 30m'], ...h('workflows', 'submit'),
  })),
  { command: 'batch validate', summary: 'schema, references, cycles; prints the waves', side_effect: 'read', requires_auth: false, category: 'orchestration', args: [arg('file', true)], ...h('workflows', 'validate') },
  { command: 'batch list', summary: 'batch runs only', side_effect: 'read', category: 'orchestration', flags: [{ ...F.status, summary: 'filter by status (comma-separated)' }, F.from, { ...F.limit, summary: 'maximum number of runs (default 20)' }], ...h('workflows', 'list') },
  { command: 'batch status', summary: 'per-operation status and progress', side_effect: 'read', category: 'orchestration', args: [arg('id', true)], ...h('workflows', 'status') },
  { command: 'batch monitor', summary: 'live view', side_effect: 'read', long_running: true, category: 'orchestration', args: [arg('id', true)], ...h('workflows', 'monitor') },
  { command: 'batch cancel', summary: 'as `workflow cancel`', side_effect: 'write', confirm: true, category: 'orchestration', args: [arg('id', true)], flags: [F.reason], ...h('workflows', 'cancel') },
  { command: 'batch rollback', summary: 'as `workflow rollback`', side_effect: 'write', confirm: true, category: 'orchestration', args: [arg('id', true)], flags: [{ ...F.force, summary: 'also roll back a completed workflow' }, F.reason], ...h('workflows', 'rollback') },
  { command: 'batch stats', summary: 'as `workflow stats`, batch runs only', side_effect: 'read', category: 'orchestration', flags: [F.from], ...h('workflows', 'stats') },
  { command: 'orchestrator start', summary: 'start the service (default port 9090), detached or with --foreground', side_effect: 'write', category: 'orchestration', flags: [F.foreground, s('port', 'listen port')],
    examples: ['prov orchestrator start', 'prov orch start --check', 'prov orch start --foreground --port 9191'], ...h('orchestrator', 'start') },
  { command: 'orchestrator stop', summary: 'graceful stop (running steps checkpoint); --force kills', side_effect: 'write', category: 'orchestration', flags: [F.force], ...h('orchestrator', 'stop') },
  { command: 'orchestrator restart', summary: 'stop then start; running workflows resume from checkpoints', side_effect: 'write', category: 'orchestration', ...h('orchestrator', 'restart') },
  { command: 'orchestrator status', summary: 'up/down, version, URL, storage, queue depth, running workflows, workers, uptime', side_effect: 'read', category: 'orchestration', ...h('orchestrator', 'status') },
  { command: 'orchestrator health', summary: 'health endpoint result (exit 0 healthy, 1 degraded/unhealthy, 9 unreachable)', side_effect: 'read', category: 'orchestration', ...h('orchestrator', 'health') },
  { command: 'orchestrator logs', summary: 'service log (default 50 lines)', side_effect: 'read', category: 'orchestration', flags: [F.lines, F.follow], ...h('orchestrator', 'logs') },

  // ── platform, mode (§20–21) ─────────────────────────────────────────────────────
  ...(['start', 'stop', 'restart', 'status', 'health', 'logs', 'list', 'deps', 'validate'] as const).map((sub): CommandDecl => ({
    command: `platform ${sub}`, summary: `platform services: ${sub}`, category: 'platform', phase: 'phase_2',
    side_effect: ['start', 'stop', 'restart'].includes(sub) ? 'write' : 'read', args: [arg('service', false, sub !== 'logs')],
    aliases: sub === 'deps' ? ['dependencies'] : [], pending: LATER('platform services'),
  })),
  ...(['current', 'list', 'show', 'compare', 'validate', 'switch'] as const).map((sub): CommandDecl => ({
    command: `mode ${sub}`, summary: `modes: ${sub}`, category: 'platform', phase: 'phase_2', side_effect: sub === 'switch' ? 'write' : 'read',
    confirm: sub === 'switch', requires_auth: sub === 'switch', pending: LATER('modes'),
  })),

  // ── extensions and distribution (§22–23) ────────────────────────────────────────
  { command: 'extension list', summary: 'every resolvable extension: kind, name, version, layer, source', side_effect: 'read', requires_auth: false, category: 'development',
    flags: [F.kind, s('layer', 'only extensions supplied by this layer', { choices: ['core', 'workspace', 'infra'] })], ...h('extensions', 'extensionList') },
  { command: 'extension info', summary: 'manifest, layer, path, dependencies, what it overrides', side_effect: 'read', requires_auth: false, category: 'development',
    args: [arg('ref', true), arg('name')], examples: ['prov extension info taskserv/redis'], ...h('extensions', 'extensionInfo') },
  { command: 'extension validate', summary: 'same as `validate extension`: every problem of an extension directory', side_effect: 'read', requires_auth: false, category: 'development',
    args: [arg('path', true)], ...h('extensions', 'extensionValidate') },
  { command: 'module discover', summary: 'core extensions not yet loaded in the workspace (or --infra) layer', side_effect: 'read', requires_auth: false, category: 'development',
    args: [arg('kind'), arg('query')], examples: ['prov dt taskserv', 'prov module discover taskserv kube'], ...h('extensions', 'moduleDiscover') },
  { command: 'module load', summary: 'copy extensions into the workspace layer, or the infra layer with --infra', side_effect: 'write', requires_auth: false, category: 'development',
    args: [arg('kind', true), arg('name', true, true)], flags: [s('source', 'where from: local (the shipped catalog) or oci', { choices: ['local', 'oci'] }), b('force', 'replace a copy already in that layer')],
    examples: ['prov module load taskserv redis nginx', 'prov module load taskserv redis --infra web --check'], ...h('extensions', 'moduleLoad') },
  { command: 'module unload', summary: 'remove an extension from the workspace (or --infra) layer', side_effect: 'delete', requires_auth: false, category: 'development',
    args: [arg('kind', true), arg('name', true)], ...h('extensions', 'moduleUnload') },
  { command: 'module list', summary: 'extensions loaded in the workspace and infra layers', side_effect: 'read', requires_auth: false, category: 'development',
    args: [arg('kind')], ...h('extensions', 'moduleList') },
  { command: 'layer show', summary: 'the stack core → workspace → infra with paths', side_effect: 'read', requires_auth: false, category: 'development', ...h('extensions', 'layerShow') },
  { command: 'layer explain', summary: 'which layer supplies an extension and why the others lost', side_effect: 'read', requires_auth: false, category: 'development',
    args: [arg('ref', true), arg('name')], examples: ['prov layer explain taskserv/redis'], ...h('extensions', 'layerExplain') },
  { command: 'layer test', summary: 'resolve an extension and print the winning manifest', side_effect: 'read', requires_auth: false, category: 'development',
    args: [arg('ref', true), arg('name')], ...h('extensions', 'layerTest') },
  { command: 'layer stats', summary: 'counts per layer and overrides', side_effect: 'read', requires_auth: false, category: 'development', ...h('extensions', 'layerStats') },
  { command: 'provider list', summary: 'providers: name, version, layer, transport, capabilities, configured?', side_effect: 'read', requires_auth: false, category: 'infrastructure', ...h('extensions', 'providerList') },
  { command: 'provider info', summary: 'config keys, capabilities, zones, plans with prices', side_effect: 'read', requires_auth: false, category: 'infrastructure',
    args: [arg('name', true)], ...h('extensions', 'providerInfo') },
  { command: 'provider validate', summary: 'provider config against its schema and credentials present (not contacted)', side_effect: 'read', requires_auth: false, category: 'infrastructure',
    args: [arg('name')], flags: [{ ...F.all, summary: 'every provider in use (the default, and those with keys set)' }], examples: ['prov provider validate upcloud'], ...h('extensions', 'providerValidate') },
  { command: 'provider test', summary: 'contact the provider API with the configured credentials', side_effect: 'read', category: 'infrastructure', args: [arg('name', true)], ...h('servers', 'providerTest') },
  // `provider local prepare-image`: the table has two words per command, so the action is a positional.
  { command: 'provider local', summary: 'local-provider tools; `prepare-image` builds its Debian 12 base image (sshd, python3) from the Debian archive and imports it into the engine', side_effect: 'write', long_running: true, requires_auth: false, category: 'infrastructure',
    args: [{ ...arg('action', true), summary: 'prepare-image' }], flags: [s('tag', 'image reference to create (default localhost/prov-debian:12)'), { ...F.force, summary: 'rebuild the rootfs and re-import even if the image exists' }],
    examples: ['bash scripts/engine.sh && prov provider local prepare-image', 'prov provider local prepare-image --check'], ...h('local-image', 'local') },
  ...([['extension', ['new', 'test']], ['dep', ['resolve', 'tree', 'check-updates', 'update', 'validate']],
    ['oci', ['login', 'logout', 'package', 'push', 'pull', 'list', 'search', 'tags', 'inspect', 'delete', 'copy', 'config']], ['pack', ['create', 'list', 'clean']],
    ['template', ['list', 'types', 'show', 'apply', 'validate', 'render']]] as const).flatMap(([area, subs]) => subs.map((sub): CommandDecl => ({
    command: `${area} ${sub}`, summary: `${area}: ${sub}`, category: 'development', phase: 'phase_2',
    side_effect: sub === 'delete' || sub === 'clean' ? 'delete'
      : ['new', 'load', 'resolve', 'update', 'login', 'logout', 'package', 'push', 'pull', 'copy', 'create', 'apply'].includes(sub) ? 'write' : 'read',
    args: [arg('target', false, true)],
    pending: LATER('extensions and OCI distribution'),
  }))),

  // ── security (§24–26) ───────────────────────────────────────────────────────────
  ...([['auth', ['login', 'logout', 'status', 'verify', 'sessions', 'token']], ['mfa', ['status', 'totp', 'webauthn', 'devices', 'verify', 'backup-codes']],
    ['user', ['list', 'create', 'update', 'delete', 'mfa-reset']], ['policy', ['list', 'show', 'validate', 'test', 'check', 'reload']],
    ['kms', ['encrypt', 'decrypt', 'generate-key', 'status', 'backends', 'keys', 'rotate-key', 'reencrypt']],
    ['secrets', ['create', 'get', 'list', 'rotate', 'delete', 'generate', 'revoke', 'cleanup']], ['ssh', ['connect', 'generate-key', 'list-keys', 'revoke-key', 'cleanup']],
    ['audit', ['query', 'export', 'verify', 'tail']], ['compliance', ['report', 'gdpr', 'incident']],
    ['break-glass', ['request', 'approve', 'deny', 'activate', 'list', 'revoke']]] as const).flatMap(([area, subs]) => subs.map((sub): CommandDecl => ({
    command: `${area} ${sub}`, summary: `${area}: ${sub}`, category: 'security', phase: 'phase_2',
    side_effect: sub === 'delete' ? 'delete' : ['list', 'status', 'show', 'verify', 'sessions', 'token', 'devices', 'get', 'backends', 'keys', 'query', 'tail', 'check', 'validate', 'test'].includes(sub) ? 'read' : 'write',
    min_permission: area === 'user' ? 'admin' : undefined, requires_mfa: area === 'user' && sub !== 'list',
    requires_auth: !(area === 'auth' && ['login', 'status'].includes(sub)) && !(area === 'kms'),
    args: [arg('target', false, true)],
    pending: LATER(area === 'kms' || area === 'secrets' || area === 'ssh' ? 'KMS and secrets' : area === 'audit' || area === 'compliance' || area === 'break-glass' ? 'audit, compliance and break-glass' : 'authentication, MFA and policies'),
  }))),

  // ── test environments, MCP (§27–28) ─────────────────────────────────────────────
  ...(['quick', 'env', 'topology', 'extension'] as const).map((sub): CommandDecl => ({
    command: `test ${sub}`, summary: `test environments: ${sub}`, category: 'development', phase: 'phase_2', side_effect: 'write', args: [arg('target', false, true)], pending: LATER('test environments'),
  })),
  { command: 'mcp serve', summary: 'serve the Model Context Protocol on stdio', side_effect: 'read', category: 'platform', phase: 'phase_2', flags: [b('read-only', 'only read commands')], pending: LATER('MCP server') },
  { command: 'mcp tools', summary: 'the tool list and the command each maps to', side_effect: 'none', category: 'platform', phase: 'phase_2', pending: LATER('MCP server') },

  // ── version, health, status, setup, guides, utilities (§29) ────────────────────
  { command: 'version show', summary: 'CLI version; --verbose adds Node.js and schema versions', side_effect: 'none', requires_auth: false, category: 'configuration', ...h('meta', 'version') },
  { command: 'version check', summary: 'available updates for extensions and taskservs', side_effect: 'read', category: 'configuration', phase: 'phase_2', pending: LATER('extensions and OCI distribution') },
  { command: 'health check', summary: 'health of the chosen scopes', side_effect: 'read', category: 'platform', phase: 'phase_2', args: [arg('scope', false, true)], pending: LATER('platform services') },
  { command: 'status show', summary: 'workspace, infra, environment, mode, services, workflows, servers', side_effect: 'read', category: 'platform', phase: 'phase_2', pending: LATER('platform services') },
  { command: 'setup system', summary: 'guided first-time setup', side_effect: 'write', interactive: true, category: 'configuration', phase: 'phase_2', flags: [b('interactive', 'ask questions')], pending: LATER('guided setup') },
  { command: 'setup workspace', summary: 'create and register a workspace', side_effect: 'write', category: 'configuration', phase: 'phase_2', args: [arg('name', true)], pending: LATER('guided setup') },
  { command: 'setup provider', summary: 'configure one provider', side_effect: 'write', category: 'configuration', phase: 'phase_2', args: [arg('name', true)], flags: [s('config', 'provider config file')], pending: LATER('guided setup') },
  { command: 'setup validate', summary: 'verify the installation and external tools', side_effect: 'read', category: 'configuration', phase: 'phase_2', flags: [b('check-tools', 'check external tools')], pending: LATER('guided setup') },
  { command: 'guide show', aliases: ['list', 'howto'], summary: 'step-by-step guides: quickstart, from-scratch, update, customize', side_effect: 'none', requires_auth: false, category: 'configuration', args: [arg('topic')], ...h('meta', 'guide') },
  { command: 'guide shortcuts', summary: 'cheat sheet of shortcuts and common commands', side_effect: 'none', requires_auth: false, category: 'configuration', ...h('meta', 'shortcuts') },
  { command: 'completion script', summary: 'shell completion script on stdout', side_effect: 'none', requires_auth: false, category: 'configuration',
    args: [arg('shell', true)], examples: ['source <(provisioning completion bash)', 'provisioning completion fish > ~/.config/fish/completions/provisioning.fish'], ...h('meta', 'completion') },
  { command: 'cache stats', summary: 'extension, OCI and template cache sizes', side_effect: 'read', category: 'configuration', phase: 'phase_2', pending: LATER('extensions and OCI distribution') },
  { command: 'cache clear', summary: 'clear the caches', side_effect: 'delete', category: 'configuration', phase: 'phase_2', flags: [b('workspace', 'only this workspace')], pending: LATER('extensions and OCI distribution') },
  { command: 'help show', summary: 'help for an area, a command or a category', side_effect: 'none', requires_auth: false, category: 'configuration', args: [arg('topic', false, true)], flags: [F.all], ...h('meta', 'help') },
];
