/** The name rule of spec/models.md §1.1: a DNS label. */
export const NAME_RE = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** The corrected spelling offered as a hint (`Web_01` → `web-01`). */
export function suggestName(raw: string): string {
  const s = raw.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-').replace(/^[^a-z]+/, '').replace(/-+$/, '');
  return s.slice(0, 63).replace(/-+$/, '');
}

/** Why `raw` is not a valid name, or undefined when it is. */
export function nameProblem(raw: string, max = 63): string | undefined {
  if (raw.length === 0) return 'a name may not be empty';
  if (raw.length > max) return `a name has at most ${max} characters (got ${raw.length})`;
  if (!NAME_RE.test(raw)) {
    return 'a name is lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen';
  }
  return undefined;
}
