import { ProvError } from '../errors/index.js';
import { ACTION_SHORTCUTS, GLOBAL_FLAGS, SHORTCUTS, registry } from './registry/index.js';
import type { FlagSpec } from './registry/index.js';

/**
 * Shell completion. The scripts are thin: they call `provisioning __complete -- <words>`
 * and the candidates come from the command table, so completion never goes stale.
 */

export function complete(words: string[]): string[] {
  const reg = registry();
  const current = words[words.length - 1] ?? '';
  const before = words.slice(0, -1);
  const positional = before.filter((w) => !w.startsWith('-'));
  const prev = before[before.length - 1];
  const starts = (list: Iterable<string>) => [...new Set(list)].filter((c) => c.startsWith(current)).sort();

  let area = positional[0] === undefined ? undefined : reg.areaAliases.get(positional[0]) ?? SHORTCUTS[positional[0]]?.[0];
  let subWord = positional[0] !== undefined && SHORTCUTS[positional[0]] ? SHORTCUTS[positional[0]]![1] : positional[1];
  if (area && subWord && ACTION_SHORTCUTS[subWord]) subWord = ACTION_SHORTCUTS[subWord];
  const spec = area && subWord ? reg.subs.get(area)?.get(subWord) : undefined;
  const flags: FlagSpec[] = [...GLOBAL_FLAGS, ...(spec?.flags ?? [])];

  // Value of a flag with fixed choices.
  if (prev?.startsWith('--')) {
    const f = flags.find((x) => `--${x.name}` === prev);
    if (f?.type === 'string') return starts(f.choices ?? []);
  }
  if (current.startsWith('-')) {
    return starts(flags.flatMap((f) => [`--${f.name}`, ...(f.type === 'boolean' ? [`--no-${f.name}`] : [])]));
  }
  if (!area) return positional.length === 0 ? starts([...reg.areaAliases.keys(), ...Object.keys(SHORTCUTS)]) : [];
  if (positional.length === 1 && !SHORTCUTS[positional[0]!]) {
    if (area === 'help') return starts(reg.areaAliases.keys());
    return starts([...(reg.subs.get(area)?.keys() ?? []), 'help']);
  }
  if (area === 'help' || spec?.command === 'help show') {
    area = reg.areaAliases.get(positional[1] ?? '');
    return area ? starts(reg.subs.get(area)?.keys() ?? []) : [];
  }
  if (spec?.command === 'completion script') return starts(['bash', 'zsh', 'fish']);
  return [];
}

export function completionScript(shell: string): string {
  switch (shell) {
    case 'bash':
      return `# provisioning completion for bash: source <(provisioning completion bash)
_provisioning_complete() {
  local IFS=$'\\n'
  COMPREPLY=( $(provisioning __complete -- "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) )
}
complete -o default -F _provisioning_complete provisioning prov
`;
    case 'zsh':
      return `#compdef provisioning prov
# provisioning completion for zsh: source <(provisioning completion zsh)
_provisioning() {
  local -a candidates
  candidates=("\${(@f)$(provisioning __complete -- "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  compadd -a candidates
}
compdef _provisioning provisioning prov
`;
    case 'fish':
      return `# provisioning completion for fish: provisioning completion fish > ~/.config/fish/completions/provisioning.fish
function __provisioning_complete
  set -l words (commandline -opc) (commandline -ct)
  provisioning __complete -- $words[2..-1] 2>/dev/null
end
complete -c provisioning -f -a '(__provisioning_complete)'
complete -c prov -f -a '(__provisioning_complete)'
`;
    default:
      throw new ProvError('INVALID_ARGUMENT', `no completion for shell '${shell}'`, { hint: 'use one of: bash, zsh, fish' });
  }
}
