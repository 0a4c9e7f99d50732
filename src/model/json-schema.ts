import * as z from 'zod';
import { BatchWorkflow, InfraSettings, Server } from './schema.js';
import { ClusterManifest, ExtensionManifest, TaskservManifest } from './manifest.js';

/**
 * JSON Schema (draft 2020-12) for editors, generated from the same zod schemas that validate.
 * `taskserv` and `cluster` describe those extensions' `extension.toml`; `extension` accepts any
 * manifest kind. The `config` schema belongs to the configuration module.
 */

export const SCHEMA_KINDS = ['infra', 'server', 'taskserv', 'cluster', 'workflow', 'extension'] as const;
export type SchemaKind = (typeof SCHEMA_KINDS)[number];

const SCHEMAS: Record<SchemaKind, { schema: z.ZodType; title: string }> = {
  infra: { schema: InfraSettings, title: 'Provisioning infra definition (infra/<name>/settings.*)' },
  server: { schema: Server, title: 'Provisioning server' },
  taskserv: { schema: TaskservManifest, title: 'Provisioning taskserv manifest (extension.toml)' },
  cluster: { schema: ClusterManifest, title: 'Provisioning cluster manifest (extension.toml)' },
  workflow: { schema: BatchWorkflow, title: 'Provisioning batch workflow (workflows/*)' },
  extension: { schema: ExtensionManifest, title: 'Provisioning extension manifest (extension.toml)' },
};

export function jsonSchemaFor(kind: SchemaKind): Record<string, unknown> {
  const { schema, title } = SCHEMAS[kind];
  const out = z.toJSONSchema(schema, { target: 'draft-2020-12', unrepresentable: 'any', io: 'input' }) as Record<string, unknown>;
  return { $schema: out.$schema, $id: `https://provisioning.dev/schemas/${kind}.json`, title, ...out };
}
