import type { Config } from '../config/index.js';
import type { WorkflowControl } from '../engine/control.js';
import type { Engine } from '../engine/worker.js';
import type { WorkflowStore } from '../store/workflows.js';
import type { WorkflowRow } from '../workflow/types.js';
import type { Principal } from './auth.js';
import type { EventPump } from './events.js';
import type { Metrics } from './metrics.js';
import type { WsHub } from './ws.js';

/** What the route families share. */
export interface Ctx {
  cfg: Config;
  store: WorkflowStore;
  engine: Engine;
  pump: EventPump;
  ws: WsHub;
  metrics: Metrics;
  workspacePath: string;
  /** the workspace's name */
  workspace: string;
  env: Record<string, string | undefined>;
  instanceId: string;
  version: string;
  startedAt: number;
  /** the control functions acting as this principal (recorded as actor and `submitted_by`) */
  control(p: Principal): WorkflowControl;
  /** the workflow once it is final, or undefined after `ms` (or when the server closes) */
  waitFinal(id: string, ms: number): Promise<WorkflowRow | undefined>;
}
