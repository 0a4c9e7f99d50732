import type * as z from 'zod';
import { BatchWorkflow, InfraSettings, normalizeWorkflowInput } from './schema.js';
import { manifestSchemaFor, type ExtensionManifest } from './manifest.js';
import { definitionInvalid, locateProblems, problemsFromIssues, sortProblems, type Locator, type PendingProblem, type Problem } from './problems.js';
import { infraRules, workflowRules } from './rules.js';

/**
 * Validation entry points: schema + cross-field rules, every problem collected and located.
 * They never throw for bad input; `assertValid` turns the result into DEFINITION_INVALID.
 */

export interface Source {
  /** Shown in problems (workspace-relative where possible). */
  file?: string;
  locate?: Locator;
}

export interface Validated<T> {
  /** Present only when there are no errors. */
  value?: T;
  errors: Problem[];
  warnings: Problem[];
}

function run<T>(schema: z.ZodType<T>, raw: unknown, src: Source, rules: (raw: unknown) => PendingProblem[], extra?: (value: T) => PendingProblem[]): Validated<T> {
  const parsed = schema.safeParse(raw);
  const pendingErrors = parsed.success ? [] : problemsFromIssues(parsed.error.issues, schema, raw);
  pendingErrors.push(...rules(raw));
  if (parsed.success && pendingErrors.length === 0 && extra) pendingErrors.push(...extra(parsed.data));
  const errors = sortProblems(locateProblems(dedupe(pendingErrors), src.file, src.locate));
  return errors.length === 0 ? { value: parsed.data as T, errors, warnings: [] } : { errors, warnings: [] };
}

/** The same problem found by the schema and by a rule (same code and path) is reported once. */
function dedupe(problems: PendingProblem[]): PendingProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => { const k = `${p.code}\0${p.path}\0${p.message}`; if (seen.has(k)) return false; seen.add(k); return true; });
}

export interface InfraValidateOptions extends Source {
  /** The directory name: `name`, when present, must equal it. */
  infraName?: string;
  /** Further checks on a schema-valid infra (catalog sizing, capabilities), located like the rest. */
  extraRules?: (infra: InfraSettings) => PendingProblem[];
}

export function validateInfra(raw: unknown, opts: InfraValidateOptions = {}): Validated<InfraSettings> {
  return run(InfraSettings, raw, opts, (r) => infraRules(r, { infraName: opts.infraName }), opts.extraRules);
}

export interface WorkflowValidateOptions extends Source {
  extraRules?: (wf: BatchWorkflow) => PendingProblem[];
}

/** Alternative spellings (§6) are rewritten first; the value returned is canonical. */
export function validateWorkflow(raw: unknown, opts: WorkflowValidateOptions = {}): Validated<BatchWorkflow> {
  const normalized = normalizeWorkflowInput(raw);
  return run(BatchWorkflow, normalized, opts, workflowRules, opts.extraRules);
}

export function validateManifest(raw: unknown, opts: Source = {}): Validated<ExtensionManifest> {
  return run(manifestSchemaFor(raw) as z.ZodType<ExtensionManifest>, raw, opts, () => []);
}

/** The value, or DEFINITION_INVALID with every error (and the warnings) in its details. */
export function assertValid<T>(v: Validated<T>): T {
  if (v.errors.length > 0 || v.value === undefined) throw definitionInvalid(v.errors, v.warnings);
  return v.value;
}
