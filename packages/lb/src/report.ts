import { shortKey } from './plan.js';
import type { CommandOutput } from './ports.js';
import { stateText } from './engine.js';
import type { RollingReport } from './rolling.js';
import type { HostSilence } from './silences.js';

/** The final report: succeeded, failed (and whether still depooled, why), in flight, not attempted. */
export function formatReport(r: RollingReport, opts: { runId?: string } = {}): string {
  const lines: string[] = [];
  const head = {
    succeeded: 'All hosts done',
    failed: 'FAILED',
    interrupted: 'INTERRUPTED',
    refused: 'REFUSED',
    stopped: 'STOPPED BY THE OPERATOR',
  }[r.status];
  lines.push(
    `${head}: ${r.succeeded.length} succeeded, ${r.failed.length} failed, ${r.inFlight.length} stopped mid-way, ${r.notAttempted.length} not attempted (${r.failedBatches} failed batch(es))`,
  );
  if (r.stopReason) lines.push(`Stopped: ${r.stopReason}`);
  // a shuffled run can be repeated in the same order
  if (r.order?.order === 'shuffled')
    lines.push(`Order: shuffled with seed=${r.order.seed} (give seed=${r.order.seed} order=shuffled to repeat it)`);
  if (r.succeeded.length) lines.push(`Succeeded: ${r.succeeded.join(', ')}`);
  for (const f of r.failed) {
    lines.push(
      f.stillDepooled
        ? `Failed, STILL DEPOOLED: ${f.host} (${f.depooledObjects.map(shortKey).join(', ') || 'no object'}): ${f.reason}`
        : `Failed, back as it was: ${f.host}: ${f.reason}`,
    );
    // what conftool holds for it now, read back after the run (never what the run believes it wrote)
    if (f.objects?.length) lines.push(`  now: ${f.objects.map(stateText).join(', ')}`);
    if (f.silence) lines.push(`  ${silenceText(f.silence)}`);
  }
  for (const h of r.inFlight) {
    lines.push(
      `Stopped at ${h.phase}: ${h.host}${h.depooledObjects.length ? `, STILL DEPOOLED: ${h.depooledObjects.map(shortKey).join(', ')}` : ''}`,
    );
    if (h.objects?.length) lines.push(`  now: ${h.objects.map(stateText).join(', ')}`);
    if (h.silence) lines.push(`  ${silenceText(h.silence)}`);
  }
  for (const l of r.leftAsFound) lines.push(`Left as found: ${l.object} (${l.host}): ${l.why}`);
  if (r.notAttempted.length) lines.push(`Not attempted: ${r.notAttempted.join(', ')}`);
  for (const s of r.skipped) lines.push(`Skipped ${s.host}: ${s.why}`);
  for (const w of r.warnings) lines.push(`Warning: ${w}`);
  if (r.inFlight.length || r.failed.some((f) => f.stillDepooled)) {
    // The run's own id: the command can be copied as it is (the placeholder RUN_ID could not).
    const resume =
      opts.runId !== undefined
        ? `\`cookbook --resume ${opts.runId} …\` (the same cookbook and arguments)`
        : "`--resume` with this run's id";
    lines.push(`Hosts left depooled are listed above; ${resume} repools the ones whose action completed and reports the others.`);
  } else if (r.status === 'stopped' && r.notAttempted.length) {
    const resume =
      opts.runId !== undefined
        ? `\`cookbook --resume ${opts.runId} …\` (the same cookbook and arguments)`
        : "`--resume` with this run's id";
    lines.push(`Every host this run took out is back; ${resume} goes on with the hosts not attempted.`);
  }
  return lines.join('\n');
}

/** A host left out of traffic: its silence, as kept (or why not). */
function silenceText(s: HostSilence): string {
  if (s.state === 'kept')
    return `silence ${s.id} kept until ${s.until} (expire it once the host is back: its alerts are silenced until then)`;
  if (s.state === 'left') return `silence ${s.id} NOT extended, it ends at ${s.until}: ${s.why ?? ''}`;
  return `silence ${s.id} until ${s.until}`;
}

/** How a command ended, when not with 0: a failed host's block must say so, not only stop. */
function exitNote(o: CommandOutput): string {
  if (o.exitCode === 0) return '';
  return o.exitCode === null ? '\n[no exit code: timed out or cut off]' : `\n[exit code ${o.exitCode}]`;
}

/**
 * Identical outputs grouped like Cumin: one block per distinct output with the hosts that produced
 * it; a command that did not exit 0 ends its lines with its exit code (so hosts that printed the
 * same but ended differently are not one group).
 */
export function groupOutputs(outputs: ReadonlyMap<string, CommandOutput[]>): { hosts: string[]; output: string }[] {
  const groups = new Map<string, string[]>();
  for (const [host, outs] of outputs) {
    const text = outs.map((o) => `${`$ ${o.cmd}\n${[o.stdout, o.stderr].filter(Boolean).join('\n')}`.trimEnd()}${exitNote(o)}`).join('\n');
    const list = groups.get(text);
    if (list) list.push(host);
    else groups.set(text, [host]);
  }
  return [...groups].map(([output, hosts]) => ({ hosts, output }));
}
