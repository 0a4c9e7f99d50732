/**
 * Commands are data. Each leaf of the command tree is one CommandSpec; the dispatcher,
 * help, completion, `help --out json` and (later) the audit log and MCP tools read it.
 * Handlers are referenced by module name and loaded lazily, so `--version` and `help`
 * load no command code.
 */

export type Category =
  | 'infrastructure' | 'orchestration' | 'workspace' | 'configuration'
  | 'development' | 'platform' | 'security';

export const CATEGORIES: Category[] = [
  'infrastructure', 'orchestration', 'workspace', 'configuration', 'development', 'platform', 'security',
];

export type Phase = 'core' | 'phase_2';
export type SideEffect = 'none' | 'read' | 'write' | 'delete';
export type Permission = 'read' | 'write' | 'admin';

export interface FlagSpec {
  /** long name without dashes, kebab-case */
  name: string;
  short?: string;
  type: 'boolean' | 'string';
  /** repeatable / comma-separated list */
  multiple?: boolean;
  /** placeholder shown in help, e.g. `<file>` */
  value?: string;
  summary: string;
  /** accepted alternative long names (`--keepstorage`) */
  aliases?: string[];
  /** allowed values, for validation, help and completion */
  choices?: string[];
}

export interface ArgSpec {
  name: string;
  required?: boolean;
  variadic?: boolean;
  summary?: string;
}

/** Which module under src/cli/handlers/ implements a command, and which export. */
export interface HandlerRef {
  module: string;
  export: string;
}

export interface CommandSpec {
  /** canonical path, e.g. `server delete` */
  command: string;
  /** alternative subcommand words within the same area (`switch` for `workspace activate`) */
  aliases: string[];
  summary: string;
  category: Category;
  phase: Phase;
  requires_auth: boolean;
  side_effect: SideEffect;
  min_permission: Permission;
  requires_mfa: boolean;
  confirm: boolean;
  supports_check: boolean;
  long_running: boolean;
  interactive: boolean;
  audit_action: string;
  args: ArgSpec[];
  flags: FlagSpec[];
  examples: string[];
  /** set when the command is implemented */
  handler?: HandlerRef;
  /** set when the command is registered but its issue has not landed */
  pending?: string;
}

export interface AreaSpec {
  name: string;
  aliases: string[];
  summary: string;
  category: Category;
  phase: Phase;
  /** what the area does when called with no subcommand (`env` alone runs `env show`) */
  default?: string;
}

/** What a command declares; the registry fills in the derived metadata. */
export type CommandDecl = Partial<Omit<CommandSpec, 'command' | 'summary' | 'args' | 'flags' | 'examples'>> & {
  command: string;
  summary: string;
  args?: ArgSpec[];
  flags?: FlagSpec[];
  examples?: string[];
};
