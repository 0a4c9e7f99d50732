import type { BatchWorkflow, InfraSettings } from '../model/schema.js';

/**
 * The functions user definitions call. This module is what `import … from "provisioning"`
 * loads inside the evaluation worker, so it must stay free of runtime dependencies: types come
 * from the schemas, values are plain objects tagged with a registry symbol (shared across module
 * instances, so the loader recognises them whichever copy of this file created them).
 */

export const DEFINITION_BRAND: unique symbol = Symbol.for('provisioning.definition') as never;
export type DefinitionKind = 'infra' | 'workflow';

/** What `defineInfra(ctx => …)` receives. */
export interface DefinitionContext {
  workspace: string;
  infra: string;
  environment: string;
}

export type DefinitionInput<T> = T | ((ctx: DefinitionContext) => T);

export interface Definition<K extends DefinitionKind, T> {
  readonly [DEFINITION_BRAND]: K;
  readonly value: DefinitionInput<T>;
}

export function defineInfra(value: DefinitionInput<InfraSettings>): Definition<'infra', InfraSettings> {
  return { [DEFINITION_BRAND]: 'infra', value };
}

export function defineWorkflow(value: DefinitionInput<BatchWorkflow>): Definition<'workflow', BatchWorkflow> {
  return { [DEFINITION_BRAND]: 'workflow', value };
}

const SECRET_NAME = /^([a-z][a-z0-9-]*\/)?[a-z0-9][a-z0-9_.-]*$/;

/**
 * A reference to the secret `name` (`<name>` or `<infra>/<name>`): the same placeholder a TOML
 * file would hold, so both formats resolve, validate and checksum identically.
 */
export function secret(name: string): string {
  if (!SECRET_NAME.test(name)) {
    throw new Error(`secret(${JSON.stringify(name)}): a secret name is "<name>" or "<infra>/<name>" of lowercase letters, digits, "-", "_" and "."`);
  }
  return `{{kms.decrypt("${name}")}}`;
}

export function definitionKind(v: unknown): DefinitionKind | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const k = (v as Record<symbol, unknown>)[DEFINITION_BRAND];
  return k === 'infra' || k === 'workflow' ? k : undefined;
}
