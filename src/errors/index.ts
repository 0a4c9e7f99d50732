/**
 * Errors are values: a code from the spec, a message, where it happened, and what to try.
 * The CLI and (later) the HTTP API render the same object; the exit code comes from the code.
 */

/** Exit codes of spec/cli.md §9. */
export const EXIT = {
  OK: 0,
  FAILED: 1,
  USAGE: 2,
  INVALID: 3,
  AUTH: 4,
  NOT_FOUND: 5,
  CONFLICT: 6,
  ABORTED: 7,
  WAIT_TIMEOUT: 8,
  UNAVAILABLE: 9,
  CHANGES: 10,
  INTERRUPTED: 130,
} as const;

const EXIT_BY_CODE: Record<string, number> = {
  OPERATION_FAILED: 1, PROVIDER_ERROR: 1, COMMAND_FAILED: 1, SMOKE_TEST_FAILED: 1, WORKFLOW_FAILED: 1,
  USAGE: 2, UNKNOWN_COMMAND: 2, INVALID_ARGUMENT: 2, NOT_IMPLEMENTED: 2,
  CONFIG_INVALID: 3, DEFINITION_INVALID: 3, NO_WORKSPACE: 3, INFRA_REQUIRED: 3, ENV_NOT_CONFIGURED: 3,
  ENV_MISMATCH: 3, REGISTRY_INVALID: 3, WORKSPACE_MIGRATION_REQUIRED: 3, WORKSPACE_TOO_NEW: 3,
  WORKSPACE_INVALID: 3, KMS_NOT_CONFIGURED: 3, DEPENDENCY_CYCLE: 3, UNKNOWN_REFERENCE: 3,
  AUTH_REQUIRED: 4, TOKEN_EXPIRED: 4, MFA_REQUIRED: 4, FORBIDDEN: 4,
  NOT_FOUND: 5,
  LOCKED: 6, ALREADY_EXISTS: 6, VERSION_CONFLICT: 6, INVALID_STATE: 6,
  ABORTED: 7, CONFIRMATION_REQUIRED: 7,
  WAIT_TIMEOUT: 8,
  UNAVAILABLE: 9,
  INTERRUPTED: 130,
};

export function exitCodeFor(code: string): number {
  return EXIT_BY_CODE[code] ?? EXIT.FAILED;
}

/** Where an error points: a file position, an environment variable, a flag, or a named resource. */
export interface Location {
  file?: string;
  line?: number;
  column?: number;
  resource?: string;
}

export interface ErrorOptions {
  hint?: string;
  location?: Location;
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class ProvError extends Error {
  readonly code: string;
  readonly hint?: string;
  readonly location?: Location;
  readonly details: Record<string, unknown>;

  constructor(code: string, message: string, opts: ErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ProvError';
    this.code = code;
    this.hint = opts.hint;
    this.location = opts.location;
    this.details = opts.details ?? {};
  }

  get exitCode(): number {
    return exitCodeFor(this.code);
  }

  /** The machine form of spec/cli.md §6.5. */
  toJSON(): { error: { code: string; message: string; details: Record<string, unknown> } } {
    const details: Record<string, unknown> = { ...this.details };
    if (this.location) Object.assign(details, dropUndefined({ ...this.location }));
    if (this.hint !== undefined) details.hint = this.hint;
    return { error: { code: this.code, message: this.message, details } };
  }
}

export function formatLocation(loc: Location | undefined): string | undefined {
  if (!loc) return undefined;
  if (loc.file) return [loc.file, loc.line, loc.column].filter((p) => p !== undefined).join(':');
  return loc.resource;
}

/** Wrap anything thrown into a ProvError, keeping ours as they are. */
export function asProvError(err: unknown): ProvError {
  if (err instanceof ProvError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e && e.code === 'EACCES') {
    return new ProvError('OPERATION_FAILED', `permission denied: ${e.path ?? e.message}`, {
      hint: 'check the file permissions, or set PROVISIONING_HOME to a directory you own', cause: err,
    });
  }
  return new ProvError('OPERATION_FAILED', e?.message ?? String(err), { cause: err });
}

export function dropUndefined<T extends Record<string, unknown>>(obj: T): T {
  for (const k of Object.keys(obj)) if (obj[k] === undefined) delete obj[k];
  return obj;
}
