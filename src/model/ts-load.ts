import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire, builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type * as TS from 'typescript';
import { ProvError } from '../errors/index.js';
import { userDirs } from '../config/paths.js';
import { definitionInvalid, formatPath, pending, locateProblems, type Locator, type PathSegment, type Problem } from './problems.js';
import { parseProblem, type LoadedDefinition, type LoadOptions } from './load.js';
import type { EvalRequest, EvalResponse } from './eval-worker.js';

/**
 * The TypeScript loader (spec/models.md §1.3). On a cache miss the definition and the relative
 * files it imports are type-checked with the TypeScript compiler (loaded only then) and
 * transpiled to ES modules under `<cache home>/definitions/<key>/`; the key hashes every
 * file's content, the CLI version and the library location. Every load then evaluates the
 * compiled entry in a worker thread with a time limit, because a definition may read
 * `process.env` and must be re-run each time.
 */

const LIB_JS = fileURLToPath(new URL('../lib/index.js', import.meta.url));
const LIB_DTS = fileURLToPath(new URL('../lib/index.d.ts', import.meta.url));
const WORKER = new URL('./eval-worker.js', import.meta.url);
const CLI_VERSION = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch { return 'dev'; }
})();
const DEFAULT_TIMEOUT_MS = 10_000;
/** The compiler is CommonJS and large: loaded on demand only (cache miss, or a problem to locate). */
const requireTs = createRequire(import.meta.url);
const SOURCE_EXT = ['.ts', '.mts', '.js', '.mjs'];
const IMPORT_RE = /(?:\bfrom\s*|\bimport\s*\(?\s*)(['"])([^'"\n]+)\1/g;

/** Counters for tests and `--verbose` timing: a cache hit must not type-check. */
export const tsLoaderStats = { typeChecks: 0, cacheHits: 0 };

interface SourceFile { abs: string; text: string }

/** The entry and every relative import reachable from it (a regex scan: over-inclusion only widens the cache key). */
async function collectSources(entry: string): Promise<SourceFile[]> {
  const seen = new Map<string, SourceFile>();
  const queue = [resolve(entry)];
  while (queue.length > 0) {
    const abs = queue.shift()!;
    if (seen.has(abs)) continue;
    const text = await readFile(abs, 'utf8');
    seen.set(abs, { abs, text });
    for (const m of text.matchAll(IMPORT_RE)) {
      const spec = m[2]!;
      if (!spec.startsWith('./') && !spec.startsWith('../')) continue;
      const hit = resolveRelative(dirname(abs), spec);
      if (hit) queue.push(hit);
    }
  }
  return [...seen.values()];
}

function resolveRelative(dir: string, spec: string): string | undefined {
  const base = resolve(dir, spec);
  const stem = base.replace(/\.(js|mjs|ts|mts)$/, '');
  const candidates = [base, ...SOURCE_EXT.map((e) => stem + e), ...SOURCE_EXT.map((e) => join(base, `index${e}`))];
  return candidates.find((c) => /\.(ts|mts|js|mjs)$/.test(c) && existsSync(c));
}

function commonDir(files: string[]): string {
  let dir = dirname(files[0]!);
  for (const f of files) while (!(f.startsWith(dir.endsWith(sep) ? dir : dir + sep))) dir = dirname(dir);
  return dir;
}

const outName = (rel: string) => rel.replace(/\.(ts|mts|js)$/, '.mjs');

export async function loadTypeScriptDefinition(file: string, opts: LoadOptions & { displayPath: string }): Promise<LoadedDefinition> {
  const entry = resolve(file);
  if (!existsSync(entry)) throw new ProvError('NOT_FOUND', `definition file not found: ${opts.displayPath}`);
  const sources = await collectSources(entry);
  const root = commonDir(sources.map((s) => s.abs));
  const shown = (abs: string) => (abs === entry ? opts.displayPath : join(dirname(opts.displayPath), relative(dirname(entry), abs)));

  const hash = createHash('sha256').update(`${CLI_VERSION}\0${LIB_JS}\0`);
  for (const s of sources) hash.update(`${relative(root, s.abs)}\0${s.text}\0`);
  const key = hash.digest('hex').slice(0, 40);
  const cacheDir = join(userDirs(opts.env ?? process.env).cacheHome, 'definitions', key);
  const entryOut = join(cacheDir, outName(relative(root, entry)));

  if (existsSync(join(cacheDir, 'ok'))) tsLoaderStats.cacheHits++;
  else await compile(sources, root, entry, cacheDir, shown);

  const locate = lazyTsLocator(sources.find((s) => s.abs === entry)!.text, entry);
  const value = await evaluate(entryOut, sources, entry, shown, locate, opts);
  return { file, format: 'ts', data: value, locate };
}

// ── type-check and transpile (cache miss only) ──────────────────────────────────────

async function compile(sources: SourceFile[], root: string, entry: string, cacheDir: string, shown: (abs: string) => string): Promise<void> {
  tsLoaderStats.typeChecks++;
  const ts = requireTs('typescript') as typeof TS;
  const problems = typeCheck(ts, sources, entry, shown);
  if (problems.length > 0) throw definitionInvalid(problems);

  const tmp = `${cacheDir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await mkdir(tmp, { recursive: true });
  for (const s of sources) {
    const out = transpile(ts, s);
    const target = join(tmp, outName(relative(root, s.abs)));
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, out);
  }
  await writeFile(join(tmp, 'ok'), `${new Date().toISOString()}\n`);
  await mkdir(dirname(cacheDir), { recursive: true });
  try {
    await rename(tmp, cacheDir);
  } catch {
    // Another process compiled the same content first: its result is identical.
    await rm(tmp, { recursive: true, force: true });
  }
}

const AMBIENT = '/__provisioning__/ambient.d.ts';
const AMBIENT_TEXT = 'declare var process: { env: Record<string, string | undefined> };\n';

function typeCheck(ts: typeof TS, sources: SourceFile[], entry: string, shown: (abs: string) => string): Problem[] {
  const options: TS.CompilerOptions = {
    strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler, allowImportingTsExtensions: true, allowJs: true,
    skipLibCheck: true, types: [], lib: ['lib.es2022.d.ts'], paths: { provisioning: [LIB_DTS] },
    noFallthroughCasesInSwitch: true,
  };
  const host = ts.createCompilerHost(options);
  const byPath = new Map(sources.map((s) => [s.abs, s.text]));
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, onError, create) => {
    if (name === AMBIENT) return ts.createSourceFile(name, AMBIENT_TEXT, lang);
    const text = byPath.get(resolve(name));
    return text !== undefined ? ts.createSourceFile(name, text, lang, true) : getSourceFile(name, lang, onError, create);
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === AMBIENT || fileExists(name);
  const program = ts.createProgram({ rootNames: [entry, AMBIENT], options, host });
  const ours = new Set(sources.map((s) => s.abs));
  const problems: Problem[] = [];
  for (const d of ts.getPreEmitDiagnostics(program)) {
    if (d.category !== ts.DiagnosticCategory.Error) continue;
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n').split('\n').slice(0, 3).join(' ');
    if (!d.file || !ours.has(resolve(d.file.fileName))) {
      problems.push({ code: 'DEF_TYPE', message: `type error: ${message}`, file: shown(entry), path: formatPath([]), expected: 'a definition that type-checks', actual: `TS${d.code}` });
      continue;
    }
    const abs = resolve(d.file.fileName);
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start ?? 0);
    const at = abs === entry ? pathAtPosition(ts, d.file, d.start ?? 0) : [];
    problems.push({
      code: 'DEF_TYPE', message: `${at.length ? `${formatPath(at)}: ` : ''}type error: ${message}`, file: shown(abs), line: line + 1, column: character + 1,
      path: formatPath(at), expected: 'a definition that type-checks', actual: `TS${d.code}`,
    });
  }
  return problems;
}

/** Rewrite import specifiers: `provisioning` → the running CLI's library, relative → compiled siblings, bare → resolved from the source's directory. */
function transpile(ts: typeof TS, s: SourceFile): string {
  const require = createRequire(s.abs);
  const rewrite = (spec: string): string => {
    if (spec === 'provisioning') return pathToFileURL(LIB_JS).href;
    if (spec.startsWith('./') || spec.startsWith('../')) {
      const hit = resolveRelative(dirname(s.abs), spec);
      if (!hit) return spec;
      let rel = relative(dirname(s.abs), hit).split(sep).join('/');
      if (!rel.startsWith('.')) rel = `./${rel}`;
      return outName(rel);
    }
    if (spec.startsWith('node:') || builtinModules.includes(spec)) return spec;
    try { return pathToFileURL(require.resolve(spec)).href; } catch { return spec; }
  };
  const transformer: TS.TransformerFactory<TS.SourceFile> = (ctx) => (sf) => {
    const visit = (node: TS.Node): TS.Node => {
      const f = ctx.factory;
      if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
        const spec = f.createStringLiteral(rewrite(node.moduleSpecifier.text));
        return ts.isImportDeclaration(node)
          ? f.updateImportDeclaration(node, node.modifiers, node.importClause, spec, node.attributes)
          : f.updateExportDeclaration(node, node.modifiers, node.isTypeOnly, node.exportClause, spec, node.attributes);
      }
      if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
        return f.updateCallExpression(node, node.expression, node.typeArguments, [f.createStringLiteral(rewrite(node.arguments[0].text)), ...node.arguments.slice(1)]);
      }
      return ts.visitEachChild(node, visit, ctx);
    };
    return ts.visitNode(sf, visit) as TS.SourceFile;
  };
  const out = ts.transpileModule(s.text, {
    fileName: s.abs,
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, sourceMap: true, inlineSources: false, verbatimModuleSyntax: false },
    transformers: { before: [transformer] },
  });
  // Point the map at the original file so stack traces name the user's file and line.
  const map = JSON.parse(out.sourceMapText!) as { sources: string[]; sourceRoot?: string };
  map.sources = [pathToFileURL(s.abs).href];
  delete map.sourceRoot;
  const code = out.outputText.replace(/\n\/\/# sourceMappingURL=.*\s*$/, '\n');
  return `${code}//# sourceMappingURL=data:application/json;base64,${Buffer.from(JSON.stringify(map)).toString('base64')}\n`;
}

// ── evaluation ───────────────────────────────────────────────────────────────────

async function evaluate(entryOut: string, sources: SourceFile[], entry: string, shown: (abs: string) => string, locate: Locator, opts: LoadOptions & { displayPath: string }): Promise<unknown> {
  const req: EvalRequest = {
    entryUrl: pathToFileURL(entryOut).href,
    kind: opts.kind ?? 'infra',
    context: opts.context ?? { workspace: '', infra: '', environment: '' },
  };
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const res = await new Promise<EvalResponse | 'timeout'>((done, fail) => {
    const worker = new Worker(WORKER, { workerData: req, env: { ...(opts.env ?? process.env) }, stdout: true, stderr: true });
    // A definition's console output is diagnostics, never command output.
    worker.stdout.pipe(process.stderr);
    worker.stderr.pipe(process.stderr);
    const timer = setTimeout(() => { void worker.terminate(); done('timeout'); }, timeoutMs);
    worker.once('message', (m: EvalResponse) => { clearTimeout(timer); void worker.terminate(); done(m); });
    worker.once('error', (e) => { clearTimeout(timer); done({ ok: false, reason: 'threw', message: e.message, stack: e.stack }); });
    worker.once('exit', (code) => { clearTimeout(timer); if (code !== 0) fail(new ProvError('OPERATION_FAILED', `evaluating ${opts.displayPath} stopped (exit ${code})`)); });
  });
  const file = opts.displayPath;
  if (res === 'timeout') {
    throw definitionInvalid([parseProblem(file, `${file}: evaluation did not finish within ${timeoutMs / 1000} s`, undefined, undefined,
      'a definition must be deterministic and quick: no network calls, no endless loops')]);
  }
  if (res.ok) return res.value;
  if (res.reason === 'threw') {
    const frame = stackFrame(res.stack, sources.map((s) => s.abs));
    const where = frame ? shown(frame.abs) : file;
    throw definitionInvalid([parseProblem(where, `${file}: the definition threw: ${res.message}`, frame?.line, frame?.column)]);
  }
  if (res.reason === 'export') {
    throw definitionInvalid([{ ...parseProblem(file, `${file}: ${res.message}`, undefined, undefined, `export default ${opts.kind === 'workflow' ? 'defineWorkflow' : 'defineInfra'}({ … }) from "provisioning"`), code: 'DEF_TYPE', expected: 'a default export made by define…()', actual: res.message.replace(/^.*, got /, '') }]);
  }
  const p = pending('DEF_TYPE', res.at as PathSegment[], 'plain data (strings, numbers, booleans, arrays and tables)', undefined, {
    message: `${formatPath(res.at)}: expected plain data, got ${res.got}`,
    hint: 'definitions must evaluate to data: call helpers instead of storing them, and use plain objects instead of classes',
  });
  p.actual = res.got;
  throw definitionInvalid(locateProblems([p], file, locate));
}

function stackFrame(stack: string | undefined, files: string[]): { abs: string; line: number; column: number } | undefined {
  if (!stack) return undefined;
  for (const m of stack.matchAll(/(file:\/\/[^\s)]+|\/[^\s():]+):(\d+):(\d+)/g)) {
    const abs = m[1]!.startsWith('file://') ? fileURLToPath(m[1]!) : m[1]!;
    if (files.includes(abs)) return { abs, line: Number(m[2]), column: Number(m[3]) };
  }
  return undefined;
}

// ── positions inside a TypeScript definition ──────────────────────────────────────────

interface TsEntry { at: PathSegment[]; key?: { line: number; column: number }; value: { line: number; column: number }; start: number; end: number }

/**
 * The literal parts of `export default defineInfra(<literal>)` (or `ctx => (<literal>)`, or a
 * top-level `const` passed by name), indexed by path. Values built by helper calls have no
 * position of their own; problems there point at the nearest literal ancestor.
 */
function literalIndex(ts: typeof TS, sf: TS.SourceFile): TsEntry[] {
  const out: TsEntry[] = [];
  const pos = (n: TS.Node) => { const p = sf.getLineAndCharacterOfPosition(n.getStart(sf)); return { line: p.line + 1, column: p.character + 1 }; };
  const consts = new Map<string, TS.Expression>();
  for (const st of sf.statements) {
    if (ts.isVariableStatement(st)) for (const d of st.declarationList.declarations) if (ts.isIdentifier(d.name) && d.initializer) consts.set(d.name.text, d.initializer);
  }
  const literal = (e: TS.Expression | undefined, depth = 0): TS.Expression | undefined => {
    if (!e || depth > 5) return undefined;
    while (ts.isParenthesizedExpression(e) || ts.isAsExpression(e) || ts.isSatisfiesExpression(e)) e = e.expression;
    if (ts.isIdentifier(e)) return literal(consts.get(e.text), depth + 1);
    if (ts.isArrowFunction(e) || ts.isFunctionExpression(e)) {
      if (!ts.isBlock(e.body)) return literal(e.body, depth + 1);
      const ret = e.body.statements.find(ts.isReturnStatement);
      return literal(ret?.expression, depth + 1);
    }
    return e;
  };
  const walk = (e: TS.Expression | undefined, at: PathSegment[]): void => {
    const lit = literal(e);
    if (!lit) return;
    if (ts.isObjectLiteralExpression(lit)) {
      for (const p of lit.properties) {
        if (!(ts.isPropertyAssignment(p) || ts.isShorthandPropertyAssignment(p)) || !(ts.isIdentifier(p.name) || ts.isStringLiteral(p.name) || ts.isNumericLiteral(p.name))) continue;
        const k = p.name.text;
        const value = ts.isPropertyAssignment(p) ? p.initializer : p.name;
        out.push({ at: [...at, k], key: pos(p.name), value: pos(value), start: p.getStart(sf), end: p.getEnd() });
        if (ts.isPropertyAssignment(p)) walk(p.initializer, [...at, k]);
      }
    } else if (ts.isArrayLiteralExpression(lit)) {
      for (const [i, el] of lit.elements.entries()) {
        if (ts.isSpreadElement(el)) break; // later indexes are unknown
        out.push({ at: [...at, i], value: pos(el), start: el.getStart(sf), end: el.getEnd() });
        walk(el, [...at, i]);
      }
    }
  };
  for (const st of sf.statements) {
    if (!ts.isExportAssignment(st)) continue;
    const call = st.expression;
    if (ts.isCallExpression(call) && call.arguments[0]) {
      const arg = literal(call.arguments[0]);
      if (arg) out.push({ at: [], value: pos(arg), start: arg.getStart(sf), end: arg.getEnd() });
      walk(call.arguments[0], []);
    }
  }
  return out;
}

function pathAtPosition(ts: typeof TS, sf: TS.SourceFile, position: number): PathSegment[] {
  let best: TsEntry | undefined;
  for (const e of literalIndex(ts, sf)) if (e.start <= position && position < e.end && (!best || e.at.length > best.at.length)) best = e;
  return best?.at ?? [];
}

/** Positions for problems found after evaluation; the compiler is loaded only if one is asked for. */
function lazyTsLocator(text: string, file: string): Locator {
  let index: Map<string, TsEntry> | undefined;
  return (path, want) => {
    if (!index) {
      const ts = requireTs('typescript') as typeof TS;
      const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
      index = new Map(literalIndex(ts, sf).map((e) => [e.at.join('\u0000'), e]));
    }
    const hit = index.get(path.join('\u0000'));
    if (!hit) return undefined;
    return want === 'key' ? hit.key ?? hit.value : hit.value;
  };
}
