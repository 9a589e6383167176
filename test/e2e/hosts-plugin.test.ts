// `type: plugin` lifecycle clients end to end: the built `cookbook` binary loads site modules
// named in the config (here @galley/lifecycle's test fixture, which wraps the lab's own
// implementations and returns only their operations), and refuses a bad one before it changes anything.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Conftool } from '@galley/confctl';
import { LabLifecycle, labProvisionerModule } from '@galley/lab';
import { privateLab } from '@galley/lab/testing';
import YAML from 'yaml';
import { configWith, conftool, conftoolSnapshot, outputOf, run, stateOf } from './hosts-harness.js';

jest.setTimeout(120_000);

const p = privateLab({ hosts: 8, lbs: 2, rebootMs: 500, pybalDelayMs: 100 });
const H = 'mw1301.eqiad.wmnet';
/** Built with the package (`pnpm exec tsc -b`): what a site's installed plugin would be. */
const FIXTURE = path.resolve(import.meta.dirname, '../../packages/lifecycle/dist/testing/plugin-fixture.js');
let c: { confctl: Conftool; close(): void };
let lc: LabLifecycle;

beforeAll(() => {
  c = conftool(p.lab);
  lc = new LabLifecycle(p.lab);
});
afterAll(() => c.close());

/** The lab's config with the three lifecycle sections replaced (configWith merges one level). */
function pluginConfig(name: string, sections: Record<string, Record<string, unknown>>): string {
  const file = configWith(p.lab, name, {});
  const cfg = YAML.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  Object.assign(cfg, sections);
  fs.writeFileSync(file, YAML.stringify(cfg));
  return file;
}

interface Report {
  status: string;
  hostKey?: string | null;
  steps: { step: string; ok: boolean }[];
}

describe('lifecycle plugins through the cookbook binary', () => {
  it('sre.hosts.reimage with provisioner, inventory and monitoring all `type: plugin`', async () => {
    const cfg = pluginConfig('plugins', {
      provisioner: { type: 'plugin', module: await labProvisionerModule(), options: { labDir: p.lab.dir } },
      inventory: { type: 'plugin', module: FIXTURE, options: { wrap: 'file', path: lc.inventoryFile } },
      monitoring: { type: 'plugin', module: FIXTURE, options: { wrap: 'http', url: lc.monitoringUrl } },
    });
    const before = await stateOf(c.confctl, H);
    const keyBefore = lc.hostKey(H);
    const r = await run(cfg, ['--yes', '--output', 'json', 'sre.hosts.reimage', `host=${H}`, 'os=bookworm', 'task-id=T8008']);
    const out = outputOf<Report>(r);
    expect({ code: r.code, status: out.status, failed: out.steps.filter((s) => !s.ok) }).toEqual({
      code: 0,
      status: 'succeeded',
      failed: [],
    });
    // The plugin provisioner reinstalled the host and vouched for its new key.
    expect(lc.os(H)).toBe('bookworm');
    expect(lc.hostKey(H)).not.toBe(keyBefore);
    expect(out.hostKey).toBe(lc.hostKey(H));
    expect(await stateOf(c.confctl, H)).toEqual(before);
    // The plugin monitoring set the downtime on the lab's endpoint and removed it.
    const dts = lc.downtimes().filter((d) => d.host === H);
    expect(dts).toHaveLength(1);
    expect(dts[0]!.reason).toContain('T8008');
    expect(dts[0]!.removed).toBeDefined();
    // The runner saw the plugin's writes as actions of `plugin` clients.
    expect(r.stdout + r.stderr).toContain('plugin provisioner: reinstall mw1301.eqiad.wmnet with bookworm');
  });

  it('a plugin that does not implement the interface, or does not load, is refused before anything changes', async () => {
    const partial = path.join(p.lab.dir, 'partial-provisioner.mjs');
    // Everything but hostKey: without it no reinstalled host could ever be trusted.
    fs.writeFileSync(
      partial,
      'export default () => ({ reinstall: async () => {}, powerOff: async () => {}, powerOn: async () => {}, powerCycle: async () => {}, powerStatus: async () => "on" });\n',
    );
    const bad = pluginConfig('bad-plugin', { provisioner: { type: 'plugin', module: partial } });
    const missing = path.join(p.lab.dir, 'no-such-plugin.mjs');
    const gone = pluginConfig('missing-plugin', { monitoring: { type: 'plugin', module: missing } });

    const snap = await conftoolSnapshot(c.confctl);
    const side = () => [lc.os(H), lc.hostKey(H), fs.readFileSync(lc.inventoryFile, 'utf8'), JSON.stringify(lc.downtimes())].join('\n');
    const sideBefore = side();

    const r = await run(bad, ['--yes', '--output', 'json', 'sre.hosts.reimage', `host=${H}`, 'os=trixie']);
    const all = `exit ${r.code}\n${r.stdout}${r.stderr}`;
    // 94: prepare failed (before the confirmation, any lock or write).
    expect(r.code).toBe(94);
    expect(all).toContain('ERR_LIFECYCLE_PLUGIN_INTERFACE');
    expect(all).toContain(`the provisioner plugin module ${partial} does not implement the provisioner interface: missing hostKey()`);

    const d = await run(gone, ['--yes', '--output', 'json', 'sre.hosts.decommission-host', 'task-id=T8008', `host=${H}`]);
    const dall = `exit ${d.code}\n${d.stdout}${d.stderr}`;
    expect(d.code).toBe(94);
    expect(dall).toContain('ERR_LIFECYCLE_PLUGIN_LOAD');
    expect(dall).toContain(`the monitoring plugin module ${missing} could not be loaded`);

    expect(await conftoolSnapshot(c.confctl)).toEqual(snap);
    expect(side()).toBe(sideBefore);
  });
});
