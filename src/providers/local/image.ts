/**
 * The base image of the `local` provider. No registry is reachable on the machines this runs on,
 * so the image is built from the distribution's archive: debootstrap a minimal Debian 12 with sshd
 * and python3, keep the rootfs tarball in the cache (only the first build pays ~35 s), and import it
 * through the Docker Engine API, so the same code serves Docker and Podman.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import lockfile from 'proper-lockfile';
import { ProvError } from '../../errors/index.js';
import { hasImage } from './engine.js';

const run = promisify(execFile);

export const DEFAULT_IMAGE_TAG = 'localhost/prov-debian:12';
export const SUITE = 'bookworm';
// python3 with its standard library (not python3-minimal): taskservs and Ansible modules use http, json, ssl…
export const PACKAGES = ['openssh-server', 'python3', 'busybox', 'ca-certificates', 'curl', 'procps', 'iproute2'];
const DEFAULT_MIRROR = 'http://deb.debian.org/debian';
/** Each container makes its own host keys (the image carries none), then runs sshd in the foreground. */
export const IMAGE_CMD = ['/bin/sh', '-c', 'mkdir -p /run/sshd && ssh-keygen -A && exec /usr/sbin/sshd -D -e'];
const BASE_CHANGES = [
  `CMD ${JSON.stringify(IMAGE_CMD)}`,
  'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  'EXPOSE 22',
];
/** What the image is made of, hashed: a different package list or config is a different image. */
export const IMAGE_REVISION = createHash('sha256').update(JSON.stringify([SUITE, PACKAGES, BASE_CHANGES])).digest('hex').slice(0, 12);
const REVISION_LABEL = 'io.provisioning.image.revision';
const IMAGE_CHANGES = [...BASE_CHANGES, `LABEL ${REVISION_LABEL}=${IMAGE_REVISION}`];

export interface PrepareImageOptions {
  docker: Docker;
  tag?: string;
  /** `paths.cache_home`; the rootfs tarball lives in `<cacheDir>/images/` */
  cacheDir: string;
  /** Debian archive URL; default: the host's apt sources */
  mirror?: string;
  /** rebuild the rootfs and re-import even when the tag or the tarball exists */
  force?: boolean;
  /** progress lines for people (stderr) */
  progress?: (line: string) => void;
}

export interface PrepareImageResult {
  tag: string;
  /** `present`: the engine had the tag; `imported`: from the cached tarball; `built`: debootstrap + import */
  action: 'present' | 'imported' | 'built';
  tarball: string;
  image_id?: string;
  seconds: number;
}

export function tarballPath(cacheDir: string): string {
  return join(cacheDir, 'images', `prov-debian-12-${IMAGE_REVISION}.tar`);
}

/** The engine has `tag` built from this revision (an older one is replaced). */
async function current(docker: Docker, tag: string): Promise<boolean> {
  if (!await hasImage(docker, tag)) return false;
  const info = await docker.getImage(tag).inspect();
  return info.Config?.Labels?.[REVISION_LABEL] === IMAGE_REVISION;
}

/** The host's Debian mirror (deb822 sources, else the one-line format), so builds use the reachable archive. */
export function hostMirror(): string {
  const deb822 = '/etc/apt/sources.list.d/debian.sources';
  if (existsSync(deb822)) {
    const m = /^URIs:\s*(\S+)/m.exec(readFileSync(deb822, 'utf8'));
    if (m) return m[1]!;
  }
  if (existsSync('/etc/apt/sources.list')) {
    const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/m.exec(readFileSync('/etc/apt/sources.list', 'utf8'));
    if (m) return m[1]!;
  }
  return DEFAULT_MIRROR;
}

/** Make sure the engine has `tag`: nothing, an import of the cached rootfs, or a build first. */
export async function prepareImage(opts: PrepareImageOptions): Promise<PrepareImageResult> {
  const started = Date.now();
  const tag = opts.tag ?? DEFAULT_IMAGE_TAG;
  const tarball = tarballPath(opts.cacheDir);
  const done = (action: PrepareImageResult['action'], image_id?: string): PrepareImageResult =>
    ({ tag, action, tarball, ...(image_id ? { image_id } : {}), seconds: Math.round((Date.now() - started) / 100) / 10 });

  if (!opts.force && await current(opts.docker, tag)) return done('present');

  // Parallel test processes (and a CLI run next to them) build once: the others wait, then re-check.
  const dir = join(opts.cacheDir, 'images');
  await mkdir(dir, { recursive: true });
  const release = await lockfile.lock(dir, { lockfilePath: join(dir, '.build.lock'), stale: 30_000, update: 5_000, retries: { retries: 600, minTimeout: 500, maxTimeout: 1_000 } });
  try {
    if (!opts.force && await current(opts.docker, tag)) return done('present');
    let action: PrepareImageResult['action'] = 'imported';
    if (opts.force || !existsSync(tarball)) {
      await buildRootfsTarball(tarball, opts.mirror ?? hostMirror(), opts.progress);
      action = 'built';
    }
    opts.progress?.(`importing ${tarball} as ${tag}…`);
    await importTarball(opts.docker, tarball, tag);
    const info = await opts.docker.getImage(tag).inspect();
    return done(action, info.Id);
  } finally {
    await release();
  }
}

async function buildRootfsTarball(tarball: string, mirror: string, progress?: (line: string) => void): Promise<void> {
  const dir = join(tarball, '..');
  const rootfs = join(dir, `rootfs.${process.pid}`);
  const partial = `${tarball}.${process.pid}.partial`;
  await requireTool('debootstrap', 'apt-get install -y debootstrap (or run `bash scripts/engine.sh`, which installs it)');
  if (process.getuid?.() !== 0) {
    throw new ProvError('OPERATION_FAILED', 'building the base image needs root (debootstrap creates device nodes and owners)', {
      hint: 'run `provider local prepare-image` as root once; the tarball is cached and later imports need no root',
    });
  }
  await rm(rootfs, { recursive: true, force: true });
  try {
    progress?.(`building a Debian 12 rootfs with debootstrap from ${mirror} (about a minute, once)…`);
    try {
      await run('debootstrap', ['--variant=minbase', `--include=${PACKAGES.join(',')}`, SUITE, rootfs, mirror], { maxBuffer: 64 * 1024 * 1024 });
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string; message: string };
      const tail = `${e.stdout ?? ''}\n${e.stderr ?? ''}`.trim().split('\n').slice(-5).join('\n');
      throw new ProvError('OPERATION_FAILED', `debootstrap of Debian ${SUITE} from ${mirror} failed:\n${tail || e.message}`, {
        hint: 'check that the mirror is reachable (it comes from /etc/apt/sources.list.d/debian.sources)', cause: err,
      });
    }
    await trimRootfs(rootfs);
    await run('tar', ['--numeric-owner', '-C', rootfs, '-cf', partial, '.'], { maxBuffer: 16 * 1024 * 1024 });
    await rename(partial, tarball);
  } finally {
    await rm(rootfs, { recursive: true, force: true });
    await rm(partial, { force: true });
  }
}

/** What a container image must not carry: shared host keys, package caches; and PAM's loginuid, refused in containers. */
async function trimRootfs(rootfs: string): Promise<void> {
  const ssh = join(rootfs, 'etc', 'ssh');
  for (const f of await readdir(ssh)) if (f.startsWith('ssh_host_')) await rm(join(ssh, f));
  for (const d of ['var/cache/apt/archives', 'var/lib/apt/lists']) {
    const p = join(rootfs, d);
    for (const f of await readdir(p)) if (f !== 'partial' && f !== 'lock') await rm(join(p, f), { recursive: true, force: true });
  }
  const pam = join(rootfs, 'etc', 'pam.d', 'sshd');
  if (existsSync(pam)) await writeFile(pam, readFileSync(pam, 'utf8').replace(/^(session\s+)required(\s+pam_loginuid\.so)/m, '$1optional$2'));
  await writeFile(join(rootfs, 'etc', 'hostname'), 'localhost\n');
}

async function importTarball(docker: Docker, tarball: string, tag: string): Promise<void> {
  // `repo` carries the whole reference: Podman ignores the separate `tag` parameter on import.
  const size = (await stat(tarball)).size;
  const stream = await docker.importImage(createReadStream(tarball), { repo: tag, changes: IMAGE_CHANGES });
  // The engine streams JSON progress; a failure arrives as an `error` entry, not an HTTP status.
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(stream, (err: Error | null, events: { error?: string; errorDetail?: { message?: string } }[]) => {
      const failed = err?.message ?? events.find((e) => e.error)?.error;
      if (failed) reject(new ProvError('PROVIDER_ERROR', `the engine refused to import ${tarball} (${size} bytes) as ${tag}: ${failed}`, {
        hint: `remove the tarball to rebuild it: rm ${tarball}`,
      }));
      else resolve();
    });
  });
}

async function requireTool(name: string, install: string): Promise<void> {
  try {
    await run('sh', ['-c', 'command -v "$1"', 'sh', name]);
  } catch {
    throw new ProvError('UNAVAILABLE', `${name} is not installed`, { hint: install });
  }
}
