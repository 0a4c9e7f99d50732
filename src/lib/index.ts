/**
 * The `provisioning` package entry: what user definitions import.
 *
 *   import { defineInfra, defineWorkflow, secret, type Server } from 'provisioning';
 *
 * Runtime exports are dependency-free (see define.ts); everything else is types.
 */
export { defineInfra, defineWorkflow, secret } from './define.js';
export type { Definition, DefinitionContext, DefinitionInput, DefinitionKind } from './define.js';
export type {
  BatchWorkflow, ClusterComponent, ClusterDefinition, FirewallRule, InfraSettings, NetworkSettings, Operation,
  OperationType, Server, ServerDefaults, ServerNetwork, SshSettings, StorageVolume, TaskservRef,
} from '../model/schema.js';
export type { Labels, Name, Secret } from '../model/scalars.js';
export type { Check, ClusterManifest, ExtensionManifest, ProviderManifest, TaskservManifest } from '../model/manifest.js';
export type { FieldSchema, FieldTable, FieldType } from '../model/fields.js';
