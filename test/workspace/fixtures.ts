import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Every file under `dir` (hidden ones and state included) with its content, for "nothing changed" assertions. */
export function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    let entries;
    try {
      entries = readdirSync(join(dir, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) { out[`${p}/`] = ''; walk(p); } else out[p] = readFileSync(join(dir, p)).toString('base64');
    }
  };
  walk('');
  return out;
}

export function writeFiles(root: string, files: Record<string, string>): void {
  for (const [p, t] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), t);
  }
}

/** A workspace in the pre-release layout (format 0): no format_version, overrides in config/local.toml. */
export function formatZeroWorkspace(root: string, name: string, localToml = '[execution]\nparallel_limit = 7\n'): string {
  const ws = join(root, name);
  writeFiles(ws, {
    'provisioning.toml': `# old workspace\n[workspace]\nname = "${name}"\nformat_version = 0\n\n[providers]\ndefault = "local"\n`,
    'config/dev.toml': '[execution]\nparallel_limit = 3\n',
    'config/local.toml': localToml,
    'infra/web/settings.toml': 'servers = []\n',
    '.gitignore': 'node_modules/\n',
  });
  return ws;
}
