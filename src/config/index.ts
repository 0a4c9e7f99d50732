/**
 * Layered configuration (spec/config.md): nine layers merged low → high, environment
 * variables, interpolation, validation against one key table, and the origin of every value.
 *
 * PUBLIC API (used by the CLI dispatcher and the workspace commands; keep these names):
 *   loadConfig(opts: LoadOptions): Promise<Config>
 */
import type { UserDirs } from './paths.js';

export interface LoadOptions {
  cwd: string;
  env: Record<string, string | undefined>;
  /** --workspace (name, path or name:infra), --infra, --environment */
  select: { workspace?: string; infra?: string; environment?: string };
  /** the CLI layer: raw `--set k=v` strings, and keys set by global flags (`--out` → output.format) */
  cli: { set: string[]; flags: { key: string; value: unknown; flag: string }[] };
  /** fail with NO_WORKSPACE when no workspace resolves (default false: layers 1–3, 8, 9 only) */
  requireWorkspace?: boolean;
  /** fail with INFRA_REQUIRED when no infra resolves */
  requireInfra?: boolean;
}

/** Where a value came from (spec/config.md §9). */
export interface Origin {
  layer: string;
  name?: string;
  file?: string;
  line?: number;
  column?: number;
  variable?: string;
  flag?: string;
}

export interface Target {
  workspace?: { name: string; path: string; registered: boolean };
  environment: string;
  infra?: string;
}

export interface LayerInfo {
  layer: string;
  file?: string;
  exists: boolean;
}

export interface Config {
  target: Target;
  dirs: UserDirs;
  /** merged, interpolated, frozen values */
  values: Readonly<Record<string, unknown>>;
  get(key: string): unknown;
  origin(key: string): Origin | undefined;
  /** every layer that set a key, lowest first; the last one wins */
  history(key: string): { origin: Origin; value: unknown }[];
  layers: LayerInfo[];
  warnings: { code: string; message: string }[];
}

export async function loadConfig(_opts: LoadOptions): Promise<Config> {
  throw new Error('loadConfig: not implemented yet');
}
