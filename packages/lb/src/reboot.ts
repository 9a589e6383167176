/**
 * The reboot as a rolling action (action.ts), for sre.lb.rolling-reboot and sre.hosts.reboot: on
 * hosts every LB has out, record each boot id (journaled, so a resume can tell), `reboot`, wait
 * until the host answers with a new boot id, then until its services are active. @galley/remote's
 * bootIds/reboot/waitRebootSince do the host side; the rolling run around it does the rest (health
 * check, put back, verify in, fail closed).
 *
 * Resume (a run stopped while rebooting): a host whose journal has its boot id from before is asked
 * for its boot id now. A new one: it rebooted, the wait for its services goes on. Unreachable: it is
 * rebooting, waited for. The same one: the reboot never took effect (or the host is only now going
 * down), so it is rebooted, which is harmless in both cases. A host without a recorded boot id was
 * never sent `reboot` (the id is journaled first): it is rebooted like any other.
 */
import { isRebootTimeoutError, type RemoteClient } from '@galley/core';
import type { ActionStep, HostAction } from './action.js';
import { failureText } from './adapters.js';
import type { Clock, CommandOutput, HostOutcome } from './ports.js';

export interface RebootActionOptions {
  /** The systemd units that must be active on a host once it is back (e.g. its conftool services). */
  services: (host: string) => readonly string[];
  /** How long a host may take to come back with a new boot id. */
  bootTimeoutMs: number;
  /** Once it is back, how long its services may take to be active. */
  servicesTimeoutMs: number;
  /** Pause between polls (boot id, services). */
  pollMs: number;
  clock: Clock;
}

type RebootRemote = Pick<RemoteClient, 'bootIds' | 'reboot' | 'waitRebootSince' | 'run'>;

const fmt = (ms: number): string => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms} ms`);

export function rebootAction(remote: RebootRemote, o: RebootActionOptions): HostAction {
  const failed = (host: string, message: string, outputs: CommandOutput[] = []): HostOutcome => ({ host, ok: false, message, outputs });

  /** Reboot hosts whose boot id is known and journaled; the outcome of the ones whose reboot did not go out. */
  const reboot = async (
    hosts: string[],
    step: ActionStep,
    why?: string,
  ): Promise<{ sent: string[]; outputs: Map<string, CommandOutput[]>; out: HostOutcome[] }> => {
    // (the acting phase already reads `rebooting`; a resume says why it reboots again)
    if (why !== undefined) for (const h of hosts) step.step(h, why);
    const rep = await remote.reboot(hosts, { batchSize: Math.max(1, hosts.length), sleepMs: 0 });
    const outputs = new Map<string, CommandOutput[]>();
    const out: HostOutcome[] = [];
    const sent: string[] = [];
    for (const r of rep.results) {
      const os = r.commands.map((c) => ({ cmd: c.cmd, exitCode: c.exitCode, stdout: c.stdout, stderr: c.stderr }));
      outputs.set(r.host, os);
      if (r.ok) sent.push(r.host);
      else out.push(failed(r.host, `reboot failed: ${failureText(r)}`, os));
    }
    return { sent, outputs, out };
  };

  /** Wait for a new boot id, then for the services; one outcome per host. */
  const comeBack = async (
    hosts: string[],
    before: ReadonlyMap<string, string>,
    outputs: Map<string, CommandOutput[]>,
    step: ActionStep,
  ): Promise<HostOutcome[]> => {
    if (!hosts.length) return [];
    for (const h of hosts) step.step(h, `waiting for a new boot id (up to ${fmt(o.bootTimeoutMs)})`);
    let notBack = new Set<string>();
    try {
      await remote.waitRebootSince(hosts, new Map(hosts.map((h) => [h, before.get(h)!])), { timeoutMs: o.bootTimeoutMs, pollMs: o.pollMs });
    } catch (err) {
      if (!isRebootTimeoutError(err)) throw err;
      notBack = new Set(err.hosts);
    }
    const out: HostOutcome[] = [...notBack].map((h) =>
      failed(
        h,
        `did not come back with a new boot id within ${fmt(o.bootTimeoutMs)} (boot id before: ${before.get(h)}); left depooled`,
        outputs.get(h),
      ),
    );
    const back = hosts.filter((h) => !notBack.has(h));
    out.push(...(await servicesActive(back, outputs, step)));
    return out;
  };

  /** `systemctl is-active` of each host's services until they all are, or the wait runs out. */
  const servicesActive = async (hosts: string[], outputs: Map<string, CommandOutput[]>, step: ActionStep): Promise<HostOutcome[]> => {
    const out: HostOutcome[] = [];
    const deadline = o.clock.now() + o.servicesTimeoutMs;
    let waiting = hosts.filter((h) => {
      if (o.services(h).length) return true;
      out.push({ host: h, ok: true, outputs: outputs.get(h) ?? [] });
      return false;
    });
    const last = new Map<string, CommandOutput>();
    for (const h of waiting) step.step(h, `back with a new boot id; waiting for ${o.services(h).join(', ')} to be active`);
    while (waiting.length) {
      // One read-only command per host (its own units), all at once.
      const results = await Promise.all(
        waiting.map(async (h) => {
          const r = await remote.run([h], [{ argv: ['systemctl', 'is-active', ...o.services(h)], timeoutMs: 10_000 }], {
            isSafe: true,
            successThreshold: 0,
          });
          const res = r.results[0];
          const c = res?.commands.at(-1);
          if (c) last.set(h, { cmd: c.cmd, exitCode: c.exitCode, stdout: c.stdout, stderr: c.stderr });
          return { h, ok: res?.ok === true };
        }),
      );
      for (const r of results) if (r.ok) out.push({ host: r.h, ok: true, outputs: [...(outputs.get(r.h) ?? []), last.get(r.h)!] });
      waiting = results.filter((r) => !r.ok).map((r) => r.h);
      if (!waiting.length) break;
      if (o.clock.now() >= deadline) {
        for (const h of waiting) {
          const l = last.get(h);
          const states = l
            ? o
                .services(h)
                .map((s, i) => `${s}=${l.stdout.trim().split(/\s+/)[i] ?? '?'}`)
                .join(', ')
            : 'unreachable';
          out.push(
            failed(
              h,
              `back with a new boot id, but its services are not active within ${fmt(o.servicesTimeoutMs)} (${states}); left depooled`,
              [...(outputs.get(h) ?? []), ...(l ? [l] : [])],
            ),
          );
        }
        break;
      }
      await o.clock.sleep(Math.min(o.pollMs, Math.max(0, deadline - o.clock.now())));
    }
    return out;
  };

  const action: HostAction = {
    // the reboot request, the new boot id, the services: what a host's silence must cover
    maxMs: 30_000 + o.bootTimeoutMs + o.servicesTimeoutMs,
    describe: () =>
      `reboot, wait up to ${fmt(o.bootTimeoutMs)} for a new boot id, then up to ${fmt(o.servicesTimeoutMs)} for its services to be active (systemctl is-active)`,

    async run(hosts, step) {
      const ids = await remote.bootIds([...hosts]);
      const out: HostOutcome[] = hosts
        .filter((h) => !ids.has(h))
        .map((h) => failed(h, 'cannot read its boot id (unreachable?): not rebooted; left depooled'));
      const known = hosts.filter((h) => ids.has(h));
      if (!known.length) return out;
      // Journaled before `reboot` goes out: a resume compares with it instead of rebooting again blindly.
      await step.record(new Map(known.map((h) => [h, { bootId: ids.get(h)! }])));
      const r = await reboot(known, step);
      out.push(...r.out, ...(await comeBack(r.sent, ids, r.outputs, step)));
      return out;
    },

    async resume(hosts, step) {
      const before = new Map<string, string>();
      for (const { host, recorded } of hosts) if (typeof recorded?.bootId === 'string') before.set(host, recorded.bootId);
      const out: HostOutcome[] = [];
      // Never sent `reboot` (nothing journaled): a reboot like any other.
      const unsent = hosts.filter((h) => !before.has(h.host)).map((h) => h.host);
      if (unsent.length) out.push(...(await action.run(unsent, step)));
      const known = [...before.keys()];
      if (!known.length) return out;
      // This run journals the same boot ids, so that it can be resumed in turn.
      await step.record(new Map(known.map((h) => [h, { bootId: before.get(h)!, resumed: true }])));
      const now = await remote.bootIds(known);
      const same = known.filter((h) => now.get(h) === before.get(h));
      const outputs = new Map<string, CommandOutput[]>();
      let sent = known.filter((h) => !same.includes(h));
      if (same.length) {
        const r = await reboot(same, step, 'its boot id is still the one recorded before the interruption: rebooting');
        out.push(...r.out);
        for (const [h, os] of r.outputs) outputs.set(h, os);
        sent = [...sent, ...r.sent];
      }
      out.push(...(await comeBack(sent, before, outputs, step)));
      return out;
    },
  };
  return action;
}
