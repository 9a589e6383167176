// conftool's confctl command lines, as runbooks type them, through the built binary against the
// lab's etcd: the global flags (--quiet, --object-type, --host, --yaml), `tags … --action ACTION
// NAME|all|re:REGEX`, set/@FILE, edit, pool/depool --hostname and the FQDN default; the questions
// through a real terminal (util-linux script(1)). The expected lines are conftool's
// (conftool/cli/tool.py, conftool/action.py); PyYAML and Python's socket.getfqdn() are the oracles
// for the YAML output and the default host.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Etcd3 } from 'etcd3';
// See contract.test.ts for why the lab is imported from its sources.
import { sharedLab } from '@galley/lab/testing';

const BIN = path.resolve(import.meta.dirname, '../../dist/confctl-bin.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { timeout: 30000, env: { ...process.env, ...opts.env } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(opts.input ?? '');
  });
}

jest.setTimeout(120000);

const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');
const q = (a: string): string => `'${a.replace(/'/g, "'\\''")}'`;
// eslint-disable-next-line no-control-regex
const plain = (s: string): string => s.replace(/\x1b\[[?\d;]*[A-Za-z]/g, '').replace(/\r/g, '');

describe('confctl speaks conftool (lab etcd)', () => {
  let dir: string;
  let config: string;
  let raw: Etcd3;
  const ns = `/ctcli-${process.pid}-${Date.now().toString(36)}`;
  const key = (spec: string): string => `${ns}/v1/pools/${spec}`;
  const value = async (spec: string): Promise<unknown> => JSON.parse((await raw.get(key(spec)).string()) ?? 'null');
  const revision = async (): Promise<string> => String((await raw.get('\0').exec()).header.revision);
  const confctl = (args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<Run> =>
    run(process.execPath, [BIN, '-c', config, ...args], opts);
  const NGINX = 'dc=eqiad,cluster=appserver,service=nginx';
  const hosts = Array.from({ length: 6 }, (_, i) => `mw${1001 + i}.eqiad.wmnet`);

  /**
   * The binary on a pseudo-terminal (script(1)); `answers` are typed one by one, each when the
   * screen shows the text it waits for. Returns everything drawn.
   */
  function onTty(
    args: string[],
    answers: [waitFor: string, type: string][],
    env: NodeJS.ProcessEnv = {},
  ): Promise<{ code: number | null; screen: string }> {
    const cmd = `stty cols 200 rows 50; exec ${[process.execPath, BIN, '-c', config, ...args].map(q).join(' ')}`;
    return new Promise((resolve) => {
      const child = spawn('script', ['-q', '-e', '-c', cmd, '/dev/null'], {
        env: { ...process.env, NO_COLOR: '1', ...env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      let next = 0;
      let seenUpTo = 0;
      const onData = (d: Buffer): void => {
        out += d.toString();
        const screen = plain(out);
        const a = answers[next];
        if (a && screen.indexOf(a[0], seenUpTo) >= 0) {
          seenUpTo = screen.indexOf(a[0], seenUpTo) + a[0].length;
          next++;
          child.stdin.write(a[1]);
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('close', (code) => {
        child.stdin.destroy();
        resolve({ code, screen: plain(out) });
      });
    });
  }

  beforeAll(async () => {
    if (!fs.existsSync(BIN)) throw new Error(`${BIN} is missing: run \`pnpm build\` first (these tests drive the built binary)`);
    const lab = await sharedLab();
    raw = new Etcd3({ hosts: lab.info.etcd.endpoints });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confctl-conftool-'));
    config = path.join(dir, 'galley.yaml');
    // Our own namespace on the lab's etcd: the lab's seeded tree stays untouched.
    fs.writeFileSync(config, `etcd:\n  endpoints: [${lab.info.etcd.endpoints.join(', ')}]\nconftool:\n  namespace: ${ns}\n`);
  });

  beforeEach(async () => {
    await raw.delete().prefix(`${ns}/`);
    for (const h of hosts) await raw.put(key(`eqiad/appserver/nginx/${h}`)).value(JSON.stringify({ pooled: 'yes', weight: 10 }));
    await raw.put(key('eqiad/appserver/php-fpm/mw1001.eqiad.wmnet')).value(JSON.stringify({ pooled: 'yes', weight: 10 }));
  });

  afterAll(async () => {
    await raw.delete().prefix(`${ns}/`);
    raw.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("accepts conftool's global flags --quiet and --object-type node; another object type exits 2 and names it", async () => {
    const r = await confctl(['--quiet', '--object-type', 'node', 'select', 'name=mw1002.eqiad.wmnet', 'get']);
    expect(r).toMatchObject({
      code: 0,
      stdout: '{"mw1002.eqiad.wmnet": {"weight": 10, "pooled": "yes"}, "tags": "dc=eqiad,cluster=appserver,service=nginx"}\n',
    });
    const before = await revision();
    const other = await confctl(['--object-type', 'discovery', 'select', 'name=mw1002.eqiad.wmnet', 'set/pooled=no']);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain('object type "discovery" is not available');
    expect(other.stderr).toContain('[ERR_CONFCTL_OBJECT_TYPE]');
    expect(await revision()).toBe(before);
  });

  it("tags … --action get NAME | all prints conftool's lines; --yaml prints get all as PyYAML does", async () => {
    const one = await confctl(['tags', NGINX, '--action', 'get', 'mw1003.eqiad.wmnet']);
    expect(one).toMatchObject({
      code: 0,
      stdout: '{"mw1003.eqiad.wmnet": {"weight": 10, "pooled": "yes"}, "tags": "dc=eqiad,cluster=appserver,service=nginx"}\n',
    });
    await raw.put(key('eqiad/appserver/nginx/mw1004.eqiad.wmnet')).value(JSON.stringify({ pooled: 'no', weight: 3 }));
    const all = await confctl(['tags', NGINX, '--action', 'get', 'all']);
    expect(all.code).toBe(0);
    // conftool: print(json.dumps(dict(all_objects))) — one line, name → value
    const expected = Object.fromEntries(
      hosts.map((h) => [h, h === 'mw1004.eqiad.wmnet' ? { weight: 3, pooled: 'no' } : { weight: 10, pooled: 'yes' }]),
    );
    expect(lines(all.stdout)).toHaveLength(1);
    expect(JSON.parse(all.stdout)).toEqual(expected);
    expect(all.stdout).toContain('{"mw1001.eqiad.wmnet": {"weight": 10, "pooled": "yes"}, ');
    const yaml = await confctl(['--yaml', 'tags', NGINX, '--action', 'get', 'all']);
    expect(yaml.code).toBe(0);
    // The oracle: PyYAML, conftool's printer, on the same objects.
    const py = await run('python3', [
      '-c',
      'import json, sys, yaml; print(yaml.dump(json.loads(sys.argv[1]), default_flow_style=False))',
      JSON.stringify(expected),
    ]);
    expect(py.code).toBe(0);
    if (yaml.stdout !== py.stdout) console.error(`confctl --yaml:\n${yaml.stdout}\nPyYAML:\n${py.stdout}`);
    expect(yaml.stdout).toBe(py.stdout);
  });

  it("tags … --action set/… NAME and several --action pairs run in order; --action delete NAME prints conftool's line", async () => {
    const r = await confctl([
      'tags',
      NGINX,
      '--action',
      'set/pooled=no:weight=5',
      'mw1002.eqiad.wmnet',
      '--action',
      'get',
      'mw1002.eqiad.wmnet',
    ]);
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual([
      'eqiad/appserver/nginx/mw1002.eqiad.wmnet: pooled changed yes => no',
      'eqiad/appserver/nginx/mw1002.eqiad.wmnet: weight changed 10 => 5',
      '{"mw1002.eqiad.wmnet": {"weight": 5, "pooled": "no"}, "tags": "dc=eqiad,cluster=appserver,service=nginx"}',
    ]);
    expect(await value('eqiad/appserver/nginx/mw1002.eqiad.wmnet')).toEqual({ pooled: 'no', weight: 5 });
    const del = await confctl(['tags', NGINX, '--action', 'delete', 'mw1006.eqiad.wmnet']);
    expect(del).toMatchObject({ code: 0, stdout: "Deleted ('Node',) mw1006.eqiad.wmnet.\n" });
    expect(await raw.get(key('eqiad/appserver/nginx/mw1006.eqiad.wmnet')).string()).toBeNull();
    const missing = await confctl(['tags', NGINX, '--action', 'set/pooled=no', 'mw1006.eqiad.wmnet']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('[ERR_CONFCTL_NO_MATCH]');
  });

  it('tags usage errors exit 2 before anything connects: a missing tag, a name tag, an odd --action, a bad re:', async () => {
    const cases: [string[], string][] = [
      [['tags', 'dc=eqiad,cluster=appserver', '--action', 'get', 'all'], "we're missing tag: service"],
      [['tags', `${NGINX},name=mw1001.eqiad.wmnet`, '--action', 'get', 'all'], 'unknown tag "name"'],
      [['tags', NGINX, '--action', 'get'], 'tags needs --action ACTION NAMEDEF'],
      [['tags', NGINX], 'tags needs --action ACTION NAMEDEF'],
      [['tags', NGINX, '--action', 'set/pooled=no', 're:mw(10'], 'invalid regexp: mw(10'],
      [['tags', NGINX, '--action', 'frob', 'all'], 'unknown action "frob"'],
    ];
    const before = await revision();
    const runs = await Promise.all(cases.map(([args]) => confctl(args)));
    runs.forEach((r, i) => {
      const [args, msg] = cases[i]!;
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toContain(msg);
    });
    expect(await revision()).toBe(before);
  });

  it('tags … re:REGEX matches from the start of the name, grouped: fewer than half the objects are written without a question', async () => {
    const r = await confctl(['tags', NGINX, '--action', 'set/weight=3', 're:mw1001|mw1002']);
    expect(r.code).toBe(0);
    // Python's re.match anchors only at the start (mw1001.eqiad.wmnet matches), and galley groups
    // the alternation (conftool would also take "mw1002" alone as a prefix: the same here).
    expect(lines(r.stdout).sort()).toEqual([
      'eqiad/appserver/nginx/mw1001.eqiad.wmnet: weight changed 10 => 3',
      'eqiad/appserver/nginx/mw1002.eqiad.wmnet: weight changed 10 => 3',
    ]);
  });

  it("alternation in a selector is grouped (Python re.fullmatch of (?:expr)), not conftool's ungrouped ^a|b$", async () => {
    const expr = 'mw100[12]|mw1003.eqiad.wmnet';
    const names = hosts.map((h) => JSON.stringify(h)).join(', ');
    const py = async (code: string): Promise<string[]> =>
      lines((await run('python3', ['-c', `import re\nfor n in [${names}]:\n    ${code}`])).stdout);
    const grouped = await py(`print(n) if re.fullmatch('(?:${expr})', n) else None`);
    const conftools = await py(`print(n) if re.compile('^%s$' % '${expr}').match(n) else None`);
    const r = await confctl(['select', `service=nginx,name=${expr}`, 'get']);
    expect(r.code).toBe(0);
    const got = lines(r.stdout).map((l) => Object.keys(JSON.parse(l) as object)[0]);
    if (JSON.stringify(got) !== JSON.stringify(grouped))
      console.error(`selector name=${expr}: confctl ${got.join(' ')}; grouped (Python) ${grouped.join(' ')}`);
    expect(got).toEqual(grouped);
    expect(grouped).toEqual(['mw1003.eqiad.wmnet']);
    // conftool's reading turns mw100[12] into a prefix match: two more objects
    expect(conftools).toEqual(['mw1001.eqiad.wmnet', 'mw1002.eqiad.wmnet', 'mw1003.eqiad.wmnet']);
  });

  it('tags … all, or re: over half the objects, with set/delete is refused off a terminal even with --yes, and writes nothing', async () => {
    const before = await revision();
    for (const args of [
      ['tags', NGINX, '--action', 'set/pooled=no', 'all'],
      ['--yes', 'tags', NGINX, '--action', 'delete', 'all'],
      ['--yes', 'tags', NGINX, '--action', 'set/pooled=no', 're:mw100[1-3]'],
    ]) {
      const r = await confctl(args);
      expect({ args, code: r.code }).toEqual({ args, code: 1 });
      expect(r.stderr).toContain('Destructive operations are not scriptable and should be run from the command line');
      expect(r.stderr).toContain('[ERR_CONFCTL_NOT_SCRIPTABLE]');
    }
    expect(await revision()).toBe(before);
    // get all asks nothing; a dry-run writes nothing and asks nothing
    expect((await confctl(['tags', NGINX, '--action', 'get', 'all'])).code).toBe(0);
    const dry = await confctl(['--dry-run', 'tags', NGINX, '--action', 'set/pooled=no', 'all']);
    expect(dry.code).toBe(0);
    expect(lines(dry.stdout)).toHaveLength(6);
    expect(await revision()).toBe(before);
  });

  it('on a terminal, tags … all asks for the typed sentence: anything else aborts, the sentence writes', async () => {
    const before = await revision();
    const no = await onTty(['tags', NGINX, '--action', 'set/pooled=no', 'all'], [['confctl>', 'yes\r']]);
    expect(no.code).toBe(1);
    expect(no.screen).toContain(
      'You are operating on more than half of the objects, this is potentially VERY DANGEROUS: do you want to continue?\n',
    );
    expect(no.screen).toContain("If so, please type: 'Yes, I am sure of what I am doing.'\nconfctl>");
    expect(no.screen).toContain('Aborting');
    expect(await revision()).toBe(before);
    const yes = await onTty(
      ['tags', NGINX, '--action', 'set/pooled=no', 're:mw100[1-3]'],
      [['confctl>', 'Yes, I am sure of what I am doing.\r']],
    );
    expect(yes.code).toBe(0);
    for (const h of ['mw1001', 'mw1002', 'mw1003'])
      expect(yes.screen).toContain(`eqiad/appserver/nginx/${h}.eqiad.wmnet: pooled changed yes => no\n`);
    expect(await value('eqiad/appserver/nginx/mw1003.eqiad.wmnet')).toEqual({ pooled: 'no', weight: 10 });
    expect(await value('eqiad/appserver/nginx/mw1004.eqiad.wmnet')).toEqual({ pooled: 'yes', weight: 10 });
  });

  it('on a terminal, a select write on several objects lists them and asks "Ok to continue? [y/N]": n aborts, y writes', async () => {
    const before = await revision();
    const list =
      'The selector you chose has selected the following objects:\n{"/eqiad/appserver/nginx": ["mw1001.eqiad.wmnet", "mw1002.eqiad.wmnet"]}\nOk to continue? [y/N]\nconfctl>';
    const no = await onTty(
      ['select', 'cluster=appserver,service=nginx,name=mw100[12].eqiad.wmnet', 'set/pooled=no'],
      [['confctl>', 'n\r']],
    );
    expect(no.code).toBe(1);
    expect(no.screen).toContain(list);
    expect(no.screen).toContain('Aborting');
    expect(await revision()).toBe(before);
    const yes = await onTty(
      ['select', 'cluster=appserver,service=nginx,name=mw100[12].eqiad.wmnet', 'set/pooled=no'],
      [['confctl>', 'y\r']],
    );
    expect(yes.code).toBe(0);
    expect(yes.screen).toContain(list);
    expect(yes.screen).toContain('eqiad/appserver/nginx/mw1002.eqiad.wmnet: pooled changed yes => no');
    expect(await value('eqiad/appserver/nginx/mw1001.eqiad.wmnet')).toEqual({ pooled: 'no', weight: 10 });
    // --yaml lists the objects in YAML
    const yaml = await onTty(['--yaml', 'select', 'name=mw1001.eqiad.wmnet', 'set/weight=2'], [['confctl>', 'n\r']]);
    expect(yaml.code).toBe(1);
    expect(yaml.screen).toContain(
      'The selector you chose has selected the following objects:\n/eqiad/appserver/nginx:\n- mw1001.eqiad.wmnet\n/eqiad/appserver/php-fpm:\n- mw1001.eqiad.wmnet\nOk to continue? [y/N]\n',
    );
  });

  it('--host skips the question when every selected object belongs to one host (not when there are two hosts)', async () => {
    const before = await revision();
    const refused = await confctl(['select', 'name=mw1001.eqiad.wmnet', 'set/weight=4']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('refusing to set weight=4 on 2 objects without confirmation (not a terminal)');
    const twoHosts = await confctl(['--host', 'select', 'name=mw100[12].eqiad.wmnet', 'set/weight=4']);
    expect(twoHosts.code).toBe(1);
    expect(await revision()).toBe(before);
    const ok = await confctl(['--host', 'select', 'name=mw1001.eqiad.wmnet', 'set/weight=4']);
    expect(ok.code).toBe(0);
    expect(lines(ok.stdout).sort()).toEqual([
      'eqiad/appserver/nginx/mw1001.eqiad.wmnet: weight changed 10 => 4',
      'eqiad/appserver/php-fpm/mw1001.eqiad.wmnet: weight changed 10 => 4',
    ]);
  });

  it("set/@FILE.yaml sets the file's fields (select and tags); a bad file exits 2 and writes nothing", async () => {
    const file = path.join(dir, 'values.yaml');
    fs.writeFileSync(file, '# depool for maintenance\npooled: "no"\nweight: 0\n');
    const r = await confctl(['select', 'dc=eqiad,service=nginx,name=mw1005.eqiad.wmnet', `set/@${file}`]);
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual([
      'eqiad/appserver/nginx/mw1005.eqiad.wmnet: pooled changed yes => no',
      'eqiad/appserver/nginx/mw1005.eqiad.wmnet: weight changed 10 => 0',
    ]);
    const t = await confctl(['tags', NGINX, '--action', `set/@${file}`, 'mw1004.eqiad.wmnet']);
    expect(t.code).toBe(0);
    expect(await value('eqiad/appserver/nginx/mw1004.eqiad.wmnet')).toEqual({ pooled: 'no', weight: 0 });
    const before = await revision();
    const cases: [string, string][] = [
      ['pooled: maybe\n', 'pooled must be one of yes|no|inactive'],
      ['colour: red\n', 'unknown field colour'],
      ['- pooled\n', 'not a YAML mapping'],
      ['weight: [1\n', 'not valid YAML'],
    ];
    for (const [text, msg] of cases) {
      fs.writeFileSync(file, text);
      const bad = await confctl(['select', 'name=mw1003.eqiad.wmnet', `set/@${file}`]);
      expect({ text, code: bad.code }).toEqual({ text, code: 2 });
      expect(bad.stderr).toContain(msg);
    }
    const missing = await confctl(['select', 'name=mw1003.eqiad.wmnet', `set/@${path.join(dir, 'nope.yaml')}`]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('[ERR_CONFCTL_FILE_NOT_FOUND]');
    expect(await revision()).toBe(before);
  });

  it('edit opens $EDITOR on the object as YAML and writes the result back', async () => {
    const seen = path.join(dir, 'seen.yaml');
    // The "editor": keeps a copy of what it was shown, then changes the weight.
    const editor = `sh -c 'cp "$1" ${seen}; sed -i "s/^weight: .*/weight: 7/" "$1"' editor`;
    const r = await confctl(['select', 'service=nginx,name=mw1003.eqiad.wmnet', 'edit'], { env: { EDITOR: editor } });
    expect(r).toMatchObject({ code: 0, stdout: 'Entity eqiad/appserver/nginx/mw1003.eqiad.wmnet successfully updated\n' });
    // conftool's file: a comment naming the object, then yaml.safe_dump of the fields
    const py = await run('python3', ['-c', 'import sys, yaml; sys.stdout.write(yaml.safe_dump({"pooled": "yes", "weight": 10}))']);
    expect(fs.readFileSync(seen, 'utf8')).toBe(`# Editing object eqiad/appserver/nginx/mw1003.eqiad.wmnet\n${py.stdout}`);
    expect(await value('eqiad/appserver/nginx/mw1003.eqiad.wmnet')).toEqual({ pooled: 'yes', weight: 7 });
    const t = await confctl(['tags', NGINX, '--action', 'edit', 'mw1002.eqiad.wmnet'], { env: { EDITOR: `sed -i s/yes/inactive/` } });
    expect(t).toMatchObject({ code: 0, stdout: 'Entity eqiad/appserver/nginx/mw1002.eqiad.wmnet successfully updated\n' });
    expect(await value('eqiad/appserver/nginx/mw1002.eqiad.wmnet')).toEqual({ pooled: 'inactive', weight: 10 });
  });

  it('edit never overwrites a change made while the editor was open; an invalid edit or a failing editor writes nothing', async () => {
    const theirs = JSON.stringify({ pooled: 'no', weight: 1 });
    // The editor is slow: meanwhile someone else (etcdctl, as an operator would) depools the object.
    const script = path.join(dir, 'slow-editor.sh');
    fs.writeFileSync(
      script,
      `ETCDCTL_API=3 etcdctl --endpoints=${(await sharedLab()).info.etcd.endpoints.join(',')} put ${key('eqiad/appserver/nginx/mw1004.eqiad.wmnet')} ${q(theirs)} >/dev/null\n` +
        'sed -i "s/^weight: .*/weight: 9/" "$1"\n',
    );
    const editor = `sh ${script}`;
    const r = await confctl(['select', 'service=nginx,name=mw1004.eqiad.wmnet', 'edit'], { env: { EDITOR: editor } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('eqiad/appserver/nginx/mw1004.eqiad.wmnet changed while it was being edited');
    expect(r.stderr).toContain('[ERR_CONFCTL_EDIT_CONFLICT]');
    expect(await raw.get(key('eqiad/appserver/nginx/mw1004.eqiad.wmnet')).string()).toBe(theirs);

    const before = await revision();
    const invalid = await confctl(['select', 'service=nginx,name=mw1005.eqiad.wmnet', 'edit'], {
      env: { EDITOR: 'sed -i s/yes/perhaps/' },
    });
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toContain(
      'the edited eqiad/appserver/nginx/mw1005.eqiad.wmnet is not valid: pooled must be one of yes|no|inactive',
    );
    const failing = await confctl(['select', 'service=nginx,name=mw1005.eqiad.wmnet', 'edit'], { env: { EDITOR: 'false' } });
    expect(failing.code).toBe(1);
    expect(failing.stderr).toContain('Editor false returned nonzero 1');
    expect(await revision()).toBe(before);
  });

  it('on a terminal, an invalid edit says why and asks "Continue editing? [y/n]": y opens the editor again', async () => {
    // First pass breaks the value, second pass fixes it: the editor counts its runs in a file.
    const count = path.join(dir, 'runs');
    fs.rmSync(count, { force: true });
    const editor = `sh -c 'echo x >> ${count}; if [ $(wc -l < ${count}) -eq 1 ]; then sed -i s/yes/perhaps/ "$1"; else sed -i s/perhaps/no/ "$1"; fi' editor`;
    const r = await onTty(['select', 'service=nginx,name=mw1006.eqiad.wmnet', 'edit'], [['Continue editing? [y/n] ', 'y\r']], {
      EDITOR: editor,
    });
    expect(r.code).toBe(0);
    expect(r.screen).toContain(
      'The modified object is not valid, please check it!\nReported reason: pooled must be one of yes|no|inactive, got "perhaps"\nContinue editing? [y/n] ',
    );
    expect(r.screen).toContain('Entity eqiad/appserver/nginx/mw1006.eqiad.wmnet successfully updated');
    expect(await value('eqiad/appserver/nginx/mw1006.eqiad.wmnet')).toEqual({ pooled: 'no', weight: 10 });
  });

  it('pool/depool take --hostname (a literal name); two different hosts exit 2', async () => {
    const r = await confctl(['depool', '--hostname', 'mw1001.eqiad.wmnet', '--service', 'php-fpm']);
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual(['eqiad/appserver/php-fpm/mw1001.eqiad.wmnet: pooled changed yes => no']);
    const both = await confctl(['pool', 'mw1001.eqiad.wmnet', '--hostname', 'mw1002.eqiad.wmnet']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('two hosts given');
  });

  it("pool/depool without a host act on this machine's FQDN, as Python's socket.getfqdn() finds it", async () => {
    // A UTS + mount namespace where this machine is "mw1002" and /etc/hosts gives its FQDN.
    const hostsFile = path.join(dir, 'hosts');
    fs.writeFileSync(hostsFile, '127.0.0.1 localhost\n127.0.1.1 mw1002.eqiad.wmnet mw1002\n');
    const inNs = (cmd: string): Promise<Run> =>
      run('unshare', ['--uts', '--mount', 'sh', '-c', `hostname mw1002 && mount --bind ${q(hostsFile)} /etc/hosts && ${cmd}`]);
    const oracle = await inNs(`python3 -c 'import socket; print(socket.getfqdn())'`);
    expect(oracle).toMatchObject({ code: 0, stdout: 'mw1002.eqiad.wmnet\n' });
    const r = await inNs([process.execPath, BIN, '-c', config, '--dry-run', 'depool'].map(q).join(' '));
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual([`DRY-RUN: would set pooled=no on eqiad/appserver/nginx/${oracle.stdout.trim()}`]);
    expect(r.stderr).toContain('that mw1002.eqiad.wmnet is really out of traffic');
  });
});
