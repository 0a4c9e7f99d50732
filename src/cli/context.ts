import type { Readable, Writable } from 'node:stream';
import type { Config } from '../config/index.js';
import type { CommandSpec } from './registry/index.js';

/** The global flags after parsing (spec/cli.md §2). */
export interface Globals {
  infra?: string;
  workspace?: string;
  environment?: string;
  settings?: string;
  set: string[];
  check: boolean;
  yes: boolean;
  nonInteractive: boolean;
  wait: boolean;
  timeout?: string;
  detailedExitcode: boolean;
  orchestrated: boolean;
  direct: boolean;
  out?: OutputFormat;
  quiet: boolean;
  verbose: boolean;
  debug: boolean;
  /** false with --no-color; undefined when not given */
  color?: boolean;
  mfaCode?: string;
}

export type OutputFormat = 'table' | 'json' | 'yaml' | 'text' | 'toml';

/** The process surroundings a command runs in; tests pass their own. */
export interface Io {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  stdinIsTTY: boolean;
  env: Record<string, string | undefined>;
  cwd: string;
}

/** How a result is shown to people; JSON/YAML always print `data`. */
export type View =
  | { kind: 'table'; columns: string[]; rows: unknown[][] }
  | { kind: 'kv'; entries: [string, unknown][] }
  | { kind: 'text'; text: string };

export interface Result {
  data: unknown;
  view?: View;
  exitCode?: number;
  /** the last line of an NDJSON stream (follow-style commands with --out json, cli.md §6.3): JSON on one line */
  ndjson?: boolean;
}

export interface Invocation {
  spec: CommandSpec;
  args: Record<string, string | string[] | undefined>;
  flags: Record<string, unknown>;
  globals: Globals;
  passthrough: string[];
  io: Io;
  /** the effective output format (flag → PROVISIONING_OUT → table); config may refine it */
  out: OutputFormat;
  /** no prompt may be shown: --non-interactive, PROVISIONING_NON_INTERACTIVE, or stdin not a TTY */
  nonInteractive: boolean;
  /** an info line on stderr (suppressed by --quiet) */
  info(message: string): void;
  warn(message: string): void;
  /**
   * Ask before a destructive step (spec/cli.md §8). Resolves when confirmed, throws
   * ABORTED (declined) or CONFIRMATION_REQUIRED (no TTY and no --yes). With `typeName`,
   * the user must type that name instead of y/yes.
   */
  confirm(question: string, opts?: { typeName?: string }): Promise<void>;
  /**
   * The merged configuration for this command (loaded once, on first call), selected by
   * --workspace/--infra/--environment and fed the CLI layer (--set and global flags).
   * When neither --out nor PROVISIONING_OUT is given, `output.format` from config becomes `out`.
   */
  config(opts?: { requireWorkspace?: boolean; requireInfra?: boolean }): Promise<Config>;
}

export type Handler = (inv: Invocation) => Promise<Result>;
