/**
 * Progress of a run per resource. On a terminal: one live line per resource (spinner, last
 * message, elapsed time), redrawn in place by log-update. Elsewhere (CI logs, pipes): one
 * plain line per event, so the log reads in order.
 */
import { createLogUpdate } from 'log-update';
import type { Writable } from 'node:stream';
import { colors } from './output.js';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

interface Line { name: string; message: string; started: number; state: 'running' | 'done' | 'failed' | 'skipped'; ms?: number }

export class Progress {
  private readonly lines = new Map<string, Line>();
  private readonly draw?: ReturnType<typeof createLogUpdate>;
  private timer?: NodeJS.Timeout;
  private frame = 0;
  private readonly c;

  constructor(private readonly out: Writable, private readonly o: { tty: boolean; color: boolean; quiet: boolean }) {
    this.c = colors(o.color);
    if (o.tty && !o.quiet) {
      this.draw = createLogUpdate(out as NodeJS.WriteStream, { showCursor: true });
      this.timer = setInterval(() => this.render(), 100);
      this.timer.unref();
    }
  }

  start(name: string, message: string): void {
    this.lines.set(name, { name, message, started: Date.now(), state: 'running' });
    this.event(name, message);
  }

  update(name: string, message: string): void {
    const l = this.lines.get(name);
    if (l) l.message = message;
    this.event(name, message);
  }

  end(name: string, state: 'done' | 'failed' | 'skipped', message: string): void {
    const l = this.lines.get(name) ?? { name, message, started: Date.now(), state };
    Object.assign(l, { state, message, ms: Date.now() - l.started });
    this.lines.set(name, l);
    this.event(name, message);
  }

  /** Leave the final lines on screen. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.draw) { this.render(); this.draw.done(); }
  }

  private event(name: string, message: string): void {
    if (this.o.quiet) return;
    if (this.draw) { this.render(); return; }
    this.out.write(`${name}: ${message}\n`);
  }

  private render(): void {
    if (!this.draw) return;
    this.frame = (this.frame + 1) % FRAMES.length;
    const width = Math.max(...[...this.lines.keys()].map((n) => n.length), 4);
    const icon = (l: Line) => (l.state === 'running' ? this.c.cyan(FRAMES[this.frame]!) : l.state === 'done' ? this.c.green('✓') : l.state === 'failed' ? this.c.red('✗') : this.c.dim('-'));
    const secs = (l: Line) => `${(((l.ms ?? Date.now() - l.started)) / 1000).toFixed(1)}s`;
    this.draw([...this.lines.values()].map((l) => `${icon(l)} ${l.name.padEnd(width)}  ${this.c.dim(secs(l).padStart(6))}  ${l.message}`).join('\n'));
  }
}
