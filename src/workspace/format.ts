import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import satisfies from 'semver/functions/satisfies.js';
import validRange from 'semver/ranges/valid.js';
import { parse, TomlError } from 'smol-toml';
import { cliVersion } from '../cli/main.js';
import { setKeyText } from '../config/toml.js';
import { ProvError } from '../errors/index.js';
import { WORKSPACE_FILE } from './layout.js';

/**
 * Workspace format versions (spec/config.md §12). `workspace.format_version` versions the
 * layout of the committed files. Format 0 is the pre-release layout: `format_version = 0` and
 * personal overrides in `config/local.toml`. A file without the key is the current format
 * (§3.1: the default is "current"). This CLI reads MIN_FORMAT..CURRENT_FORMAT.
 */
export const CURRENT_FORMAT = 1;
export const MIN_FORMAT = 1;

export interface WorkspaceFile {
  file: string;
  doc: Record<string, unknown>;
  /** `workspace.name`, when set and a string */
  name?: string;
  /** `workspace.format_version`; CURRENT_FORMAT when absent */
  formatVersion: number;
  requires?: string;
}

function configProblem(file: string, code: string, message: string, line?: number, column?: number, hint?: string): ProvError {
  return new ProvError('CONFIG_INVALID', `1 error in configuration`, {
    location: { file, line, column },
    hint: hint ?? 'fix the file and run `provisioning workspace validate`',
    details: { errors: [{ code, message, layer: 'workspace', file, line, column, hint }], warnings: [] },
  });
}

/** Parse `<ws>/provisioning.toml` (NO_WORKSPACE when absent, CONFIG_INVALID with file:line when damaged). */
export function readWorkspaceFile(wsPath: string): WorkspaceFile {
  const file = join(wsPath, WORKSPACE_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw e;
    throw new ProvError('NO_WORKSPACE', `${wsPath} is not a workspace: it has no ${WORKSPACE_FILE}`, {
      location: { file }, hint: '`provisioning workspace init <name> <path>` creates one; `provisioning workspace list` shows the registered ones',
    });
  }
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof TomlError) throw configProblem(file, 'CONFIG_PARSE', `invalid TOML: ${e.message.split('\n')[0]}`, e.line, e.column);
    throw e;
  }
  const ws = doc.workspace;
  const table = ws && typeof ws === 'object' && !Array.isArray(ws) ? (ws as Record<string, unknown>) : {};
  const fv = table.format_version;
  if (fv !== undefined && (typeof fv !== 'number' || !Number.isInteger(fv) || fv < 0)) {
    throw configProblem(file, 'CONFIG_TYPE', `\`workspace.format_version\` expects a non-negative integer, got ${JSON.stringify(fv)}`);
  }
  const requires = table.requires;
  if (requires !== undefined && typeof requires !== 'string') {
    throw configProblem(file, 'CONFIG_TYPE', `\`workspace.requires\` expects a semver range such as ">=1.2 <2", got ${JSON.stringify(requires)}`);
  }
  return {
    file, doc,
    name: typeof table.name === 'string' ? table.name : undefined,
    formatVersion: (fv as number | undefined) ?? CURRENT_FORMAT,
    requires: requires || undefined,
  };
}

export interface FormatStatus {
  name?: string;
  version: number;
  min: number;
  current: number;
  requires?: string;
  /** readable, but a newer format exists: `workspace migrate` would upgrade it */
  migrationAvailable: boolean;
}

/**
 * The opening rules of spec/config.md §12, for the config loader and every command that
 * opens a workspace: below the minimum → WORKSPACE_MIGRATION_REQUIRED; newer than this CLI,
 * or `workspace.requires` not admitting it → WORKSPACE_TOO_NEW (all exit 3).
 */
export function checkFormat(wsPath: string, version = cliVersion()): FormatStatus {
  const wf = readWorkspaceFile(wsPath);
  if (wf.requires !== undefined && validRange(wf.requires) === null) {
    throw configProblem(wf.file, 'CONFIG_PATTERN', `\`workspace.requires\` is not a semver range: "${wf.requires}"`, undefined, undefined, 'use npm range syntax, e.g. ">=1.2 <2"');
  }
  assertReadableFormat({ name: wf.name, path: wsPath, file: wf.file, formatVersion: wf.formatVersion, requires: wf.requires }, version);
  return {
    name: wf.name, version: wf.formatVersion, min: MIN_FORMAT, current: CURRENT_FORMAT, requires: wf.requires,
    migrationAvailable: wf.formatVersion < CURRENT_FORMAT,
  };
}

/**
 * The opening rules of spec/config.md §12, on values already read: newer than this CLI or an
 * unmet `requires` → WORKSPACE_TOO_NEW; below the minimum → WORKSPACE_MIGRATION_REQUIRED.
 */
export function assertReadableFormat(ws: { name?: string; path: string; file: string; formatVersion: number; requires?: string }, version = cliVersion()): void {
  const label = ws.name ? `workspace '${ws.name}'` : `the workspace at ${ws.path}`;
  if (ws.requires && validRange(ws.requires) !== null && !satisfies(version, ws.requires, { includePrerelease: true })) {
    throw new ProvError('WORKSPACE_TOO_NEW', `${label} requires provisioning ${ws.requires}; this is ${version}`, {
      location: { file: ws.file }, hint: `upgrade provisioning to satisfy ${ws.requires}`,
    });
  }
  if (ws.formatVersion > CURRENT_FORMAT) {
    throw new ProvError('WORKSPACE_TOO_NEW', `${label} uses format ${ws.formatVersion}; provisioning ${version} reads formats ${MIN_FORMAT}–${CURRENT_FORMAT}`, {
      location: { file: ws.file }, hint: 'upgrade provisioning (workspaces are never downgraded)',
    });
  }
  if (ws.formatVersion < MIN_FORMAT) {
    const cmd = `provisioning workspace migrate${ws.name ? ` ${ws.name}` : ''}`;
    throw new ProvError('WORKSPACE_MIGRATION_REQUIRED', `${label} uses format ${ws.formatVersion}; this version needs format ${MIN_FORMAT}; run \`${cmd}\``, {
      location: { file: ws.file }, hint: `${cmd} --check shows the steps; it backs the workspace up first`,
    });
  }
}

/** Write `workspace.format_version`, keeping the rest of the file byte for byte. */
export function writeFormatVersion(wsPath: string, version: number): void {
  const file = join(wsPath, WORKSPACE_FILE);
  writeFileSync(file, setKeyText(readFileSync(file, 'utf8'), ['workspace', 'format_version'], String(version)));
}
