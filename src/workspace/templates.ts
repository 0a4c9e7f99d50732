import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import nunjucks from 'nunjucks';
import { gitignoreText, LAYOUT_DIRS } from './layout.js';

/**
 * Workspace templates: `templates/workspace/<template>/` in the package, every file rendered
 * with nunjucks, plus the files every workspace gets (`.gitignore`, `package.json`,
 * `tsconfig.json`, editor schema associations) and `.gitkeep` in directories that would otherwise be empty.
 */

export const WORKSPACE_TEMPLATES = ['minimal', 'local', 'full'] as const;
export type WorkspaceTemplate = (typeof WORKSPACE_TEMPLATES)[number];

/** templates/ at the package root (from dist/src/workspace/). */
const TEMPLATE_ROOT = fileURLToPath(new URL('../../../templates/workspace/', import.meta.url));

export interface TemplateVars {
  name: string;
  provider: string;
  /** UTC date, YYYY-MM-DD */
  created: string;
  cli_version: string;
}

export interface RenderedFile {
  /** workspace-relative, `/`-separated */
  path: string;
  content: string;
}

function templateFiles(dir: string, rel = ''): string[] {
  return readdirSync(dir + rel, { withFileTypes: true }).flatMap((e) => {
    const p = rel ? `${rel}/${e.name}` : e.name;
    return e.isDirectory() ? templateFiles(dir, p) : [p];
  });
}

/** Every file of a new workspace, in a stable order; directories are implied by the paths. */
export function renderWorkspace(template: WorkspaceTemplate, vars: TemplateVars): RenderedFile[] {
  const dir = TEMPLATE_ROOT + template + '/';
  const env = new nunjucks.Environment(null, { autoescape: false, throwOnUndefined: true, trimBlocks: true });
  const files: RenderedFile[] = templateFiles(dir).map((p) => ({ path: p, content: env.renderString(readFileSync(dir + p, 'utf8'), { ...vars }) }));
  files.push({ path: '.gitignore', content: gitignoreText() });
  files.push({
    path: 'package.json',
    content: JSON.stringify({
      name: `${vars.name}-workspace`,
      private: true,
      type: 'module',
      description: `provisioning workspace ${vars.name}: this file and tsconfig.json give editors the types of settings.ts`,
      devDependencies: { provisioning: `^${vars.cli_version}` },
    }, null, 2) + '\n',
  });
  files.push({
    path: 'tsconfig.json',
    content: JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true },
      include: ['infra/**/*.ts', 'workflows/**/*.ts'],
    }, null, 2) + '\n',
  });
  files.push(...editorFiles());
  for (const d of LAYOUT_DIRS) {
    if (!files.some((f) => f.path.startsWith(`${d}/`))) files.push({ path: `${d}/.gitkeep`, content: '' });
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Where `workspace init` exports the JSON Schemas (`schema export`'s default directory). */
export const SCHEMA_DIR = '.provisioning/schemas';

/**
 * Editor wiring for the schemas in SCHEMA_DIR: `.taplo.toml` for TOML (Taplo, "Even Better TOML")
 * and `.vscode/settings.json` for YAML and JSON. settings.ts is typed through package.json/tsconfig.json.
 */
function editorFiles(): RenderedFile[] {
  const rule = (include: string[], kind: string) => `[[rule]]\ninclude = [${include.map((i) => JSON.stringify(i)).join(', ')}]\n[rule.schema]\npath = "./${SCHEMA_DIR}/${kind}.json"\n`;
  const taplo = [
    '# Schemas for TOML editors (Taplo / Even Better TOML). The files are written by',
    '# `provisioning schema export` (workspace init runs it once; run it again after upgrading).',
    '',
    rule(['infra/*/settings.toml'], 'infra'),
    rule(['workflows/*.toml'], 'workflow'),
    rule(['provisioning.toml', 'config/*.toml', 'infra/*/config.toml'], 'config'),
    rule(['extensions/**/extension.toml', 'infra/*/extensions/**/extension.toml'], 'extension'),
  ].join('\n');
  const schema = (kind: string) => `./${SCHEMA_DIR}/${kind}.json`;
  const vscode = {
    'yaml.schemas': {
      [schema('infra')]: ['infra/*/settings.yaml', 'infra/*/settings.yml'],
      [schema('workflow')]: ['workflows/*.yaml', 'workflows/*.yml'],
    },
    'json.schemas': [
      { fileMatch: ['infra/*/settings.json'], url: schema('infra') },
      { fileMatch: ['workflows/*.json'], url: schema('workflow') },
    ],
  };
  return [{ path: '.taplo.toml', content: taplo }, { path: '.vscode/settings.json', content: `${JSON.stringify(vscode, null, 2)}\n` }];
}
