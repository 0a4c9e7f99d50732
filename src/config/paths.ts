import { homedir } from 'node:os';
import { join } from 'node:path';

/** The user-level directories of spec/config.md §1.1, and the system file (§1.2). */
export interface UserDirs {
  configHome: string;
  dataHome: string;
  cacheHome: string;
  /** undefined when PROVISIONING_HOME hides it and PROVISIONING_SYSTEM_CONFIG is unset */
  systemFile?: string;
}

export function userDirs(env: Record<string, string | undefined>): UserDirs {
  const home = env.PROVISIONING_HOME;
  const system = env.PROVISIONING_SYSTEM_CONFIG;
  if (home) {
    return { configHome: join(home, 'config'), dataHome: join(home, 'data'), cacheHome: join(home, 'cache'), systemFile: system || undefined };
  }
  const h = env.HOME || homedir();
  return {
    configHome: join(env.XDG_CONFIG_HOME || join(h, '.config'), 'provisioning'),
    dataHome: join(env.XDG_DATA_HOME || join(h, '.local', 'share'), 'provisioning'),
    cacheHome: join(env.XDG_CACHE_HOME || join(h, '.cache'), 'provisioning'),
    systemFile: system || '/etc/provisioning/config.toml',
  };
}

/** `~` expansion for paths in config and the registry. */
export function expandHome(p: string, env: Record<string, string | undefined>): string {
  if (p === '~') return env.HOME || homedir();
  if (p.startsWith('~/')) return join(env.HOME || homedir(), p.slice(2));
  return p;
}
