import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { ProvError } from '../errors/index.js';
import { definitionInvalid, formatPath, type Problem } from './problems.js';
import { loadDefinition, type LoadedDefinition, type LoadOptions } from './load.js';
import { assertValid, validateInfra, type InfraValidateOptions } from './validate.js';
import type { InfraSettings } from './schema.js';

/** Finding infra definitions in a workspace (spec/models.md §1.3). */

export const SETTINGS_FILES = ['settings.ts', 'settings.toml', 'settings.yaml', 'settings.yml', 'settings.json'] as const;

/** The one settings file of an infra directory; none is NOT_FOUND, two or more DEF_AMBIGUOUS. */
export function findInfraSettings(infraDir: string, shownDir = infraDir): string {
  const present = SETTINGS_FILES.filter((f) => existsSync(join(infraDir, f)));
  if (present.length === 1) return join(infraDir, present[0]!);
  if (present.length === 0) {
    throw new ProvError('NOT_FOUND', `no settings file in ${shownDir}`, { hint: `create ${join(shownDir, 'settings.toml')} (or settings.ts), e.g. with \`provisioning generate infra --new ${basename(infraDir)}\`` });
  }
  throw definitionInvalid([ambiguous(shownDir, present)]);
}

function ambiguous(shownDir: string, present: readonly string[]): Problem {
  return {
    code: 'DEF_AMBIGUOUS', message: `${shownDir} has ${present.length} settings files: ${present.join(', ')}`,
    file: join(shownDir, present[0]!), path: formatPath([]), expected: 'exactly one settings file', actual: present.join(', '),
    hint: `keep one of ${present.join(', ')} and remove the others (or pass --settings <file>)`,
  };
}

export interface InfraEntry {
  name: string;
  dir: string;
  /** The settings file, when exactly one exists. */
  settings?: string;
  /** Why there is no usable settings file. */
  problem?: Problem;
}

/** Every `infra/<name>/` of a workspace, sorted by name. */
export async function listInfras(workspaceRoot: string): Promise<InfraEntry[]> {
  const base = join(workspaceRoot, 'infra');
  let names: string[];
  try {
    names = (await readdir(base, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names.map((name) => {
    const dir = join(base, name);
    const present = SETTINGS_FILES.filter((f) => existsSync(join(dir, f)));
    if (present.length === 1) return { name, dir, settings: join(dir, present[0]!) };
    const shown = join('infra', name);
    return {
      name, dir,
      problem: present.length === 0
        ? { code: 'DEF_REQUIRED', message: `${shown} has no settings file`, file: shown, path: formatPath([]), expected: `one of ${SETTINGS_FILES.join(', ')}`, actual: 'none' }
        : ambiguous(shown, present),
    };
  });
}

export interface LoadInfraOptions extends Omit<LoadOptions, 'displayPath' | 'kind'> {
  /** Workspace root: infra files are found under `<root>/infra/<infra>/` and shown relative to it. */
  workspaceRoot?: string;
  /** The infra name (directory); required unless `settingsFile` is given. */
  infra?: string;
  /** `--settings <file>`: load this file instead of discovering one. */
  settingsFile?: string;
  /** Runs between parsing and validation, e.g. to resolve `{{ … }}` placeholders (config.md §7) in place. */
  beforeValidate?: (def: LoadedDefinition) => void | Promise<void>;
  extraRules?: InfraValidateOptions['extraRules'];
}

export interface LoadedInfra {
  name: string;
  file: string;
  settings: InfraSettings;
  definition: LoadedDefinition;
}

/** Discover, load, validate: the infra's settings, or DEFINITION_INVALID with every problem. */
export async function loadInfra(opts: LoadInfraOptions): Promise<LoadedInfra> {
  const root = opts.workspaceRoot;
  let file: string;
  let dirName: string | undefined;
  if (opts.settingsFile) {
    file = opts.settingsFile;
  } else {
    if (!opts.infra || !root) throw new ProvError('INFRA_REQUIRED', 'no infra selected', { hint: 'pass --infra <name> or set one with `provisioning infra use <name>`' });
    const dir = join(root, 'infra', opts.infra);
    if (!existsSync(dir)) throw new ProvError('NOT_FOUND', `infra "${opts.infra}" not found (no directory infra/${opts.infra})`, { hint: 'list infras with `provisioning infra list`' });
    file = findInfraSettings(dir, join('infra', opts.infra));
    dirName = opts.infra;
  }
  const shown = root && !relative(root, file).startsWith('..') ? relative(root, file) : file;
  const name = opts.infra ?? dirName ?? basename(dirname(file));
  const definition = await loadDefinition(file, { ...opts, kind: 'infra', displayPath: shown, context: opts.context ?? { workspace: '', infra: name, environment: '' } });
  await opts.beforeValidate?.(definition);
  const settings = assertValid(validateInfra(definition.data, { file: shown, locate: definition.locate, infraName: dirName, extraRules: opts.extraRules }));
  return { name: settings.name ?? name, file: shown, settings, definition };
}
