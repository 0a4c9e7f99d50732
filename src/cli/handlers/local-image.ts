import { existsSync } from 'node:fs';
import { connectEngine, resolveSocket } from '../../providers/local/engine.js';
import { DEFAULT_IMAGE_TAG, hostMirror, PACKAGES, prepareImage, SUITE, tarballPath } from '../../providers/local/image.js';
import { ProvError } from '../../errors/index.js';
import type { Invocation, Result } from '../context.js';

const ACTIONS = ['prepare-image'];

/** `provider local <action>`; the only action so far is `prepare-image`. */
export async function local(inv: Invocation): Promise<Result> {
  const action = inv.args.action as string;
  if (!ACTIONS.includes(action)) {
    throw new ProvError('INVALID_ARGUMENT', `unknown action '${action}' for \`provider local\``, { hint: `actions: ${ACTIONS.join(', ')}` });
  }
  return prepareImageCmd(inv);
}

/** Give the local engine a Debian 12 base image with sshd and python3. */
async function prepareImageCmd(inv: Invocation): Promise<Result> {
  const cfg = await inv.config();
  const socket = resolveSocket(cfg.get('providers.local.socket') as string | undefined, inv.io.env);
  const cacheDir = cfg.get('paths.cache_home') as string;
  const tag = (inv.flags.tag as string | undefined) ?? DEFAULT_IMAGE_TAG;
  const force = inv.flags.force === true;
  const tarball = tarballPath(cacheDir);

  if (inv.globals.check) {
    // Check mode contacts no engine: say what a run would do with what is on disk.
    const build = force || !existsSync(tarball);
    const steps = [
      ...(build ? [`build a Debian 12 (${SUITE}) rootfs with debootstrap from ${hostMirror()}: ${PACKAGES.join(', ')}`, `cache it as ${tarball}`] : []),
      `import ${tarball} into ${socket} as ${tag}${force ? '' : ' (skipped when the engine already has it)'}`,
    ];
    return {
      data: { tag, socket, tarball, build, steps },
      view: { kind: 'text', text: `would prepare ${tag}:\n${steps.map((s) => `  - ${s}`).join('\n')}` },
    };
  }

  const docker = await connectEngine(socket);
  const r = await prepareImage({ docker, tag, cacheDir, force, progress: (line) => inv.info(line) });
  const data = { ...r, socket };
  return { data, view: { kind: 'kv', entries: Object.entries(data) } };
}
