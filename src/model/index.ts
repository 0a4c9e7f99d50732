/**
 * Glossary — the words used in code and docs, each with one meaning.
 *
 * workspace   A directory with `provisioning.toml` at its root: definitions, config layers,
 *             extensions, workflows, secrets, and its state in `.provisioning/`. Registered by
 *             name in the user's `workspaces.toml`; one is active.
 * infra       One set of definitions inside a workspace: `infra/<name>/settings.{ts,toml,yaml,json}`
 *             describing servers, taskservs and clusters, plus an optional config layer.
 * server      A machine the platform manages (container, VM, bare-metal host), created by a provider.
 * taskserv    A service installed on a server (redis, postgres, kubernetes …) through the deploy
 *             contract: install → configure → start → readiness → smoke test.
 * cluster     A named group of taskservs deployed across servers in dependency order.
 * extension   A provider, taskserv or cluster package described by `extension.toml`.
 * layer       Where an extension comes from: core (shipped) → workspace → infra; the most specific wins.
 * plan        What would change: ordered actions computed from desired and recorded state, offline.
 * action      One entry of a plan: create, update, replace, delete or noop of one resource.
 * workflow    A durable run of the engine (a plan being applied, or a batch file).
 * operation   One node of a workflow's DAG (server_create, taskserv_create, script …).
 * task        One attempt at running an operation, leased by an engine instance.
 * checkpoint  The persisted progress of a workflow after each completed operation.
 * provider    The interface to where servers live (local containers, static hosts, UpCloud, AWS).
 * transport   How commands reach a server: SSH or container exec.
 * store       Where state lives: SQLite in the workspace (default) or PostgreSQL (scale-out).
 */

export { NAME_RE, nameProblem, suggestName } from './names.js';
export * from './scalars.js';
export * from './schema.js';
export * from './manifest.js';
export * from './fields.js';
export * from './problems.js';
export * from './validate.js';
export * from './rules.js';
export * from './load.js';
export * from './discover.js';
export * from './resolve.js';
export * from './canonical.js';
export * from './json-schema.js';
export { tsLoaderStats } from './ts-load.js';
