/**
 * What a rolling run does on each host while every LB has it out, when that is not a list of
 * commands (`RollingOptions.commands`): an action with steps of its own, e.g. reboot and wait for
 * the host to come back (reboot.ts). It runs in the batch's act phase like the commands do, so
 * every rule around that phase holds for it too (taken out and verified first, health check, put
 * back only what the run took out, fail closed, journal, host locks, the options of the run).
 */
import type { HostOutcome } from './ports.js';

/** What the run gives an action while it acts on a batch's hosts. */
export interface ActionStep {
  /**
   * Journal, per host, what a `--resume` needs to finish the action rather than leave the host
   * depooled as "outcome unknown" (e.g. its boot id before the reboot). Durable when it resolves:
   * record before the side effect it describes.
   */
  record(entries: ReadonlyMap<string, Record<string, unknown>>): Promise<void>;
  /** Say what a host is doing now (progress, --output json: `host-step` events). */
  step(host: string, text: string): void;
}

export interface HostAction {
  /** One line for the plan (dry-run) and the report: what it does on each host. */
  describe(): string;
  /** The longest `run` may take on a host (its timeouts): a host's silence covers it (default 30 min). */
  readonly maxMs?: number;
  /** Act on hosts every LB has out; exactly one outcome per host (never throws for one host's problem). */
  run(hosts: readonly string[], step: ActionStep): Promise<HostOutcome[]>;
  /**
   * `--resume` of a run stopped while it acted on these hosts: `recorded` is the last thing `record`
   * journaled for each (undefined: nothing was, so the side effect never started). Without this
   * method such hosts are left depooled and reported (outcome unknown), as for commands.
   */
  resume?(hosts: readonly { host: string; recorded: Record<string, unknown> | undefined }[], step: ActionStep): Promise<HostOutcome[]>;
}
