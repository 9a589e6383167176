// `cookbook --report RUN_ID`: the picture of a run, rendered by a real browser (headless Chromium,
// Debian `chromium`). A rolling restart with one failed host in the lab, then the page it draws is
// checked as Chromium sees it (--dump-dom), and a screenshot is kept for a person to look at.
// eqiad jobrunner: mw1301–mw1304, nginx + php-fpm, all pooled=yes; 2 LBs, threshold 0.5 (at most 2 of 4 out).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it, jest } from '@jest/globals';
import { privateLab } from '@galley/lab/testing';
import { BIN, cookbook, settled } from './lb-helpers.js';

jest.setTimeout(180_000);

const exec = promisify(execFile);
const env = privateLab({ hosts: 12, lbs: 2 });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-report-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Headless Chromium as root, offline, with a fresh profile. */
async function chromium(args: string[], url: string): Promise<string> {
  const profile = fs.mkdtempSync(path.join(dir, 'profile-'));
  const { stdout } = await exec(
    'chromium',
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      `--user-data-dir=${profile}`,
      ...args,
      url,
    ],
    { maxBuffer: 64 * 1024 * 1024, timeout: 90_000 },
  );
  return stdout;
}

describe('cookbook --report', () => {
  it("a rolling restart with a failed host: END prints the command; the page (as Chromium renders it) has the pools against the threshold, every host's phases, the failure, the summary, the changes and the leftover, and fetches nothing", async () => {
    const lab = env.lab;
    await settled(lab, 'eqiad', 'jobrunner');
    await lab.failService('mw1301.eqiad.wmnet', 'nginx', 'restart');
    const r = await cookbook(lab, [
      'sre.lb.rolling-restart',
      'cluster=jobrunner',
      'dc=eqiad',
      'batch=2',
      'max-failed-batches=1',
      'sleep=0',
      'reason=e2e picture',
    ]);
    expect(r.code).toBe(1);
    const m = /^picture of this run: (cookbook -c \S+ --report (\S+))$/m.exec(r.stdout);
    expect(m).not.toBeNull();
    const runId = m![2]!;
    expect(r.stdout.indexOf(m![0])).toBeGreaterThan(r.stdout.indexOf('END (FAIL)'));

    const file = path.join(dir, 'run.html');
    const rep = await exec(process.execPath, [BIN, '-c', lab.info.config, '--report', runId, '--report-file', file]);
    expect(rep.stdout).toContain(`wrote ${file} (run ${runId}: 4 host(s),`);
    const html = fs.readFileSync(file, 'utf8');
    // self-contained: no script, no external reference
    expect(html).not.toMatch(/<script|<link|src=|url\(|@import|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);

    const dom = await chromium(['--dump-dom'], `file://${file}`);
    expect(dom).toContain('sre.lb.rolling-restart');
    expect(dom).toMatch(/class="status FAIL"/);
    expect(dom).toContain('3 succeeded, 1 failed, 0 stopped mid-way, 0 not attempted');
    for (const pool of ['jobrunner-nginx_eqiad', 'jobrunner-php-fpm_eqiad']) expect(dom).toContain(pool);
    expect(dom).toContain('depool threshold 0.5: at most 2 of 4 out');
    expect(dom).toContain('peak 2 out of 4');
    for (const h of ['mw1301', 'mw1302', 'mw1303', 'mw1304']) expect(dom).toMatch(new RegExp(`class="host"[^>]*>${h}\\.eqiad\\.wmnet<`));
    // batches as the run re-planned them, and the failure marked with its cause
    expect(dom).toMatch(/batch 1\/2[\s\S]*batch 2\/3[\s\S]*batch 3\/3/);
    expect(dom).toMatch(/<g class="failure">[\s\S]*?<title>mw1301\.eqiad\.wmnet: action failed: [^<]*Job for nginx\.service failed/);
    expect((dom.match(/class="donemark"/g) ?? []).length).toBe(3);
    expect(dom).toMatch(/id="leftovers"[\s\S]*mw1301\.eqiad\.wmnet[\s\S]*depooled/);
    expect(dom).toMatch(/Changes \(\d+\)/);
    expect(dom).toContain('systemctl restart nginx php-fpm');

    // and a picture for a person (kept in the temp dir while the test runs; the screenshot is non-empty)
    const png = path.join(dir, 'run.png');
    await chromium(['--window-size=1200,1400', `--screenshot=${png}`], `file://${file}`);
    expect(fs.statSync(png).size).toBeGreaterThan(20_000);
  });

  it('an unknown run id: exit 1, the error names the run and where it looked; nothing written', async () => {
    const file = path.join(dir, 'none.html');
    const r = await exec(process.execPath, [
      BIN,
      '-c',
      env.lab.info.config,
      '--report',
      '20990101T000000-abcdef',
      '--report-file',
      file,
    ]).catch((e: { code: number; stderr: string }) => e);
    expect((r as { code: number }).code).toBe(1);
    expect((r as { stderr: string }).stderr).toMatch(
      /no run 20990101T000000-abcdef in the audit log under \S+, nor a journal of it in etcd \[ERR_REPORT_RUN_NOT_FOUND\]/,
    );
    expect(fs.existsSync(file)).toBe(false);
  });
});
