import { distance } from 'fastest-levenshtein';

/**
 * Closest candidates to a mistyped word: edit distance ≤ 2, or ≤ a third of its length
 * (spec/config.md §10), best first.
 */
export function closest(word: string, candidates: Iterable<string>, max = 3): string[] {
  const limit = Math.max(2, Math.floor(word.length / 3));
  const scored: [string, number][] = [];
  for (const c of new Set(candidates)) {
    const d = distance(word.toLowerCase(), c.toLowerCase());
    if (d <= limit || (word.length >= 3 && c.startsWith(word))) scored.push([c, d]);
  }
  return scored.sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0])).slice(0, max).map(([c]) => c);
}

/** A "did you mean" sentence, or undefined when nothing is close. */
export function didYouMean(word: string, candidates: Iterable<string>, phrase: (s: string) => string): string | undefined {
  const best = closest(word, candidates, 1)[0];
  return best === undefined ? undefined : phrase(best);
}
