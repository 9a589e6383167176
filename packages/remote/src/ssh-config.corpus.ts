/**
 * ssh_config files and hosts for the differential test against `ssh -G` (ssh-config.diff.test.ts),
 * which prints the agreement count. `files` are written under
 * a temporary HOME ("~/" = that HOME; other names are relative to a scratch dir); `main` is given
 * to `ssh -G -F`. `@LU@` stands for the local user name, `@D@` for the scratch dir.
 */
export interface CorpusCase {
  name: string;
  files: Record<string, string>;
  main: string;
  hosts: string[];
  /** Extra `ssh -G` arguments, mirrored as resolver overrides (`-l`, `-p`). */
  user?: string;
  port?: number;
  /** Environment variables both sides see (`${VAR}` in file names). */
  env?: Record<string, string>;
}

export const CORPUS: CorpusCase[] = [
  {
    name: 'first value wins, Host *',
    main: 'c',
    files: {
      c: 'Host web1\n  HostName 10.0.0.1\n  User ops\n  Port 2201\nHost web*\n  User nobody\n  Port 2202\n  HostName ignored\nHost *\n  User fallback\n',
    },
    hosts: ['web1', 'web2', 'db1'],
  },
  {
    name: 'keyword case, = separator, quotes, comments',
    main: 'c',
    files: {
      c: '# comment\n   HOST=alpha\nhOsTnAmE = "alpha.example.org"\n\tUSER\t=admin # trailing comment\nPort=2222\n  IdentityFile "/keys/with space"\nHost beta\n  hostname beta.example.org\n',
    },
    hosts: ['alpha', 'beta', 'gamma'],
  },
  {
    name: 'Host negation',
    main: 'c',
    files: {
      c: 'Host *.internal !bastion.internal\n  ProxyJump bastion.internal\n  User deploy\nHost bastion.internal\n  User jump\n  Port 2022\n',
    },
    hosts: ['app.internal', 'bastion.internal', 'app.external'],
  },
  {
    name: 'negation only never matches',
    main: 'c',
    files: { c: 'Host !foo\n  User notfoo\nHost * !bar\n  Port 2000\n' },
    hosts: ['foo', 'bar', 'baz'],
  },
  {
    name: 'Host is case-sensitive, Match host is not',
    main: 'c',
    files: { c: 'Host WEB1\n  User upper\nMatch host web1\n  Port 2345\nHost web1\n  User lower\n' },
    hosts: ['web1', 'WEB1', 'Web1'],
  },
  {
    name: 'wildcards ? and *',
    main: 'c',
    files: { c: 'Host db?\n  User single\nHost db*\n  User many\n  Port 3000\nHost *.*.wmnet\n  HostName %h\n  User wm\n' },
    hosts: ['db1', 'db12', 'mw1001.eqiad.wmnet', 'db'],
  },
  {
    name: 'HostName with %h and %%',
    main: 'c',
    files: { c: 'Host mw*\n  HostName %h.eqiad.wmnet\nHost pct\n  HostName host%%name\nHost UP*\n  HostName %h.Example.ORG\n' },
    hosts: ['mw1001', 'pct', 'UPPER'],
  },
  {
    name: 'Match host sees HostName, originalhost does not',
    main: 'c',
    files: {
      c: 'Host short\n  HostName long.example.org\nMatch host long.example.org\n  User matched-host\nMatch originalhost short\n  Port 2200\nMatch originalhost long.example.org\n  Port 9999\n',
    },
    hosts: ['short', 'long.example.org'],
  },
  {
    name: 'Match !host and combined criteria',
    main: 'c',
    files: { c: 'Match !host *.prod\n  User nonprod\nMatch host *.prod !originalhost db*\n  Port 2300\nMatch host=*.prod\n  User prod\n' },
    hosts: ['a.prod', 'db1.prod', 'a.test'],
  },
  {
    name: 'Match user uses the user known so far',
    main: 'c',
    files: {
      c: 'Host a\n  User alice\nMatch user alice\n  Port 2001\nMatch user bob,carol\n  Port 2002\nMatch !user alice\n  IdentityFile /keys/not-alice\n',
    },
    hosts: ['a', 'b'],
  },
  {
    name: 'Match user with -l',
    main: 'c',
    user: 'bob',
    files: { c: 'Match user bob\n  Port 2002\nHost *\n  User ignored-because-l\n' },
    hosts: ['a'],
  },
  {
    name: 'Match localuser',
    main: 'c',
    files: {
      c: 'Match localuser @LU@\n  User same-as-local\nMatch localuser nosuchuser\n  Port 1111\nMatch !localuser nosuchuser\n  Port 2222\n',
    },
    hosts: ['x'],
  },
  {
    name: 'Match all and !all',
    main: 'c',
    files: { c: 'Host special\n  Port 2100\nMatch !all\n  User never\nMatch all\n  User everyone\n' },
    hosts: ['special', 'other'],
  },
  {
    name: 'Match canonical and final',
    main: 'c',
    files: {
      c: 'Host f1\n  HostName f1.example.org\nMatch canonical host f1.example.org\n  User canon\nMatch final host *.example.org\n  Port 2400\nMatch !final\n  IdentityFile /keys/first-pass\n',
    },
    hosts: ['f1', 'f2.example.org'],
  },
  {
    name: 'final pass matches Host against the final name',
    main: 'c',
    files: { c: 'Host alias1\n  HostName real1.example.org\nHost real1.example.org\n  User by-real-name\nMatch final\n  Port 2500\n' },
    hosts: ['alias1', 'real1.example.org'],
  },
  {
    name: 'CanonicalizeHostname yes without domains: a second pass',
    main: 'c',
    files: {
      c: 'CanonicalizeHostname yes\nHost c1\n  HostName c1.example.org\nHost c1.example.org\n  User second-pass\nMatch canonical\n  Port 2600\n',
    },
    hosts: ['c1', 'c2'],
  },
  {
    name: 'Match exec skipped after a failed criterion',
    main: 'c',
    files: { c: 'Match host nomatch exec "exit 0"\n  User never\nHost *\n  User ok\n' },
    hosts: ['h'],
  },
  {
    name: 'Include with a glob, relative to ~/.ssh',
    main: 'c',
    files: {
      c: 'Include conf.d/*.conf\nHost *\n  User default\n',
      '~/.ssh/conf.d/10-web.conf': 'Host web*\n  User web\n  Port 2010\n',
      '~/.ssh/conf.d/20-db.conf': 'Host db*\n  User db\nHost web*\n  User shadowed\n',
      '~/.ssh/conf.d/ignored.txt': 'Host *\n  User from-txt\n',
    },
    hosts: ['web1', 'db1', 'other'],
  },
  {
    name: 'Include absolute and ~/ paths, several per line',
    main: 'c',
    files: {
      c: 'Include @D@/inc/a.conf ~/.ssh/b.conf @D@/inc/missing*.conf\n',
      'inc/a.conf': 'Host a\n  HostName a.example.org\n',
      '~/.ssh/b.conf': 'Host b\n  HostName b.example.org\n  Port 2022\n',
    },
    hosts: ['a', 'b', 'c'],
  },
  {
    name: 'Include inside Host applies only when the block is active',
    main: 'c',
    files: {
      c: 'Host inner*\n  Include inc.conf\nHost *\n  User outer\n',
      '~/.ssh/inc.conf': 'User included\nPort 2700\n',
    },
    hosts: ['inner1', 'outer1'],
  },
  {
    name: 'Match in an included file does not leak',
    main: 'c',
    files: {
      c: 'Host h*\n  Include m.conf\n  User after-include\n',
      '~/.ssh/m.conf': 'Match host nothing\n  Port 1234\n',
    },
    hosts: ['h1', 'x1'],
  },
  {
    name: 'nested Include and glob order',
    main: 'c',
    files: {
      c: 'Include lvl1/*\n',
      '~/.ssh/lvl1/b': 'Host *\n  Port 2802\n',
      '~/.ssh/lvl1/a': 'Include lvl2/x\nHost *\n  Port 2801\n',
      '~/.ssh/lvl2/x': 'Host *\n  User nested\n',
    },
    hosts: ['any'],
  },
  {
    name: 'IdentityFile and CertificateFile with tokens, kept unexpanded',
    main: 'c',
    files: {
      c: 'Host *\n  IdentityFile ~/.ssh/%h.key\n  IdentityFile ~/.ssh/%r@%h_%p\n  IdentityFile ~/.ssh/%h.key\n  CertificateFile ~/.ssh/%h-cert.pub\n  User u1\n',
    },
    hosts: ['t1', 't2'],
  },
  {
    name: 'default identity files',
    main: 'c',
    files: { c: 'Host *\n  User root\n' },
    hosts: ['d1'],
  },
  {
    name: 'UserKnownHostsFile with several files and tokens',
    main: 'c',
    files: {
      c: 'Host *.lab\n  UserKnownHostsFile ~/.ssh/kh_%h /etc/galley/%n.kh ~/.ssh/%r-%p-%u\nHost *\n  UserKnownHostsFile ~/.ssh/never\n  GlobalKnownHostsFile /etc/ssh/fleet_known_hosts /etc/ssh/extra\n',
    },
    hosts: ['a.lab', 'b.other'],
  },
  {
    name: 'known hosts none, and %C %L %l %d %i %u %k',
    main: 'c',
    files: {
      c: 'Host n1\n  UserKnownHostsFile none\n  GlobalKnownHostsFile none\nHost t*\n  HostKeyAlias Alias-%h\n  UserKnownHostsFile /kh/%C /kh/%L-%l /kh/%d/%i/%u/%k\n',
    },
    hosts: ['n1', 't1'],
  },
  {
    name: 'HostKeyAlias lower-cased, StrictHostKeyChecking values',
    main: 'c',
    files: {
      c: 'Host a1\n  HostKeyAlias MixedCase.Example\n  StrictHostKeyChecking accept-new\nHost a2\n  StrictHostKeyChecking YES\nHost a3\n  StrictHostKeyChecking off\nHost a4\n  StrictHostKeyChecking no\nHost a5\n  StrictHostKeyChecking ask\n',
    },
    hosts: ['a1', 'a2', 'a3', 'a4', 'a5', 'a6'],
  },
  {
    name: 'flags: IdentitiesOnly, HashKnownHosts, ConnectTimeout',
    main: 'c',
    files: {
      c: 'Host f1\n  IdentitiesOnly yes\n  HashKnownHosts TRUE\n  ConnectTimeout 1m30s\nHost f2\n  IdentitiesOnly false\n  ConnectTimeout none\nHost *\n  IdentitiesOnly yes\n  ConnectTimeout 10\n',
    },
    hosts: ['f1', 'f2', 'f3'],
  },
  {
    name: 'ProxyJump chains, users, ports, none',
    main: 'c',
    files: {
      c: 'Host t1\n  ProxyJump ops@jump1:2222,jump2,admin@jump3\nHost t2\n  ProxyJump none\nHost t2 t3\n  ProxyJump jump9\nHost t4\n  ProxyJump ssh://u@jump4:2200\n',
    },
    hosts: ['t1', 't2', 't3', 't4'],
  },
  {
    name: 'ProxyJump with IPv6 and IPv4 addresses',
    main: 'c',
    files: {
      c: 'Host v6\n  ProxyJump [::1]:2222\nHost v6b\n  ProxyJump root@[2001:db8::1]\nHost v4\n  ProxyJump 192.0.2.1:22\nHost v6chain\n  ProxyJump [::1]:22,[fe80::1]:2200\n',
    },
    hosts: ['v6', 'v6b', 'v4', 'v6chain'],
  },
  {
    name: 'ProxyJump with %r (kept unexpanded by -G)',
    main: 'c',
    files: { c: 'Host *.behind\n  User deploy\n  ProxyJump %r@bastion:2200\n' },
    hosts: ['x.behind'],
  },
  {
    name: 'ProxyJump invalid IPv6 without brackets',
    main: 'c',
    files: { c: 'Host *\n  ProxyJump ::1\n' },
    hosts: ['x'],
  },
  {
    name: 'ProxyCommand then ProxyJump: the first wins',
    main: 'c',
    files: {
      c: 'Host pc\n  ProxyCommand nc %h %p\n  ProxyJump ignored\nHost pj\n  ProxyJump first\n  ProxyCommand ignored %h\nHost pn\n  ProxyCommand none\n',
    },
    hosts: ['pc', 'pj', 'pn'],
  },
  {
    name: 'Port validation: 0',
    main: 'c',
    files: { c: 'Host *\n  Port 0\n' },
    hosts: ['x'],
  },
  {
    name: 'Port validation: too large, even in an inactive block',
    main: 'c',
    files: { c: 'Host other\n  Port 70000\nHost *\n  User u\n' },
    hosts: ['x'],
  },
  {
    name: 'Port validation: service name and garbage',
    main: 'c',
    files: { c: 'Host svc\n  Port ssh\nHost bad\n  Port 22abc\n' },
    hosts: ['svc'],
  },
  {
    name: 'Port from -p wins over the config',
    main: 'c',
    port: 2999,
    files: { c: 'Host *\n  Port 2000\n' },
    hosts: ['x'],
  },
  {
    name: 'unknown keyword is an error, IgnoreUnknown lets it pass',
    main: 'c',
    files: { c: 'Host *\n  NoSuchOption yes\n' },
    hosts: ['x'],
  },
  {
    name: 'IgnoreUnknown',
    main: 'c',
    files: { c: 'IgnoreUnknown UseKeychain,AddKeys*\nHost *\n  UseKeychain yes\n  User ignored-unknown\n' },
    hosts: ['x'],
  },
  {
    name: 'extra arguments and missing arguments are errors',
    main: 'c',
    files: { c: 'Host *\n  User a b\n' },
    hosts: ['x'],
  },
  {
    name: 'Match errors: missing criteria, unknown attribute',
    main: 'c',
    files: { c: 'Match host\n  User x\n' },
    hosts: ['x'],
  },
  {
    name: 'Match all combined is an error',
    main: 'c',
    files: { c: 'Match all host foo\n  User x\n' },
    hosts: ['x'],
  },
  {
    name: 'invalid quotes',
    main: 'c',
    files: { c: 'Host *\n  IdentityFile "/unterminated\n' },
    hosts: ['x'],
  },
  {
    name: 'unknown token in HostName is an error',
    main: 'c',
    files: { c: 'Host *\n  HostName %z.example\n' },
    hosts: ['x'],
  },
  {
    name: 'IPv6 and IPv4 HostName',
    main: 'c',
    files: { c: 'Host six\n  HostName ::1\n  Port 2201\nHost sixlong\n  HostName 0:0:0:0:0:0:0:1\nHost four\n  HostName 127.0.0.1\n' },
    hosts: ['six', 'sixlong', 'four', '::1'],
  },
  {
    name: 'upper-case host names are lower-cased',
    main: 'c',
    files: { c: 'Host *\n  User u\n' },
    hosts: ['MW1001.Eqiad.WMNET'],
  },
  {
    name: 'jumphost loop is an error',
    main: 'c',
    files: { c: 'Host loop\n  ProxyJump loop\n' },
    hosts: ['loop'],
  },
  {
    name: 'realistic fleet config',
    main: 'c',
    files: {
      c: 'Include ~/.ssh/config.d/*\nHost *.wmnet !bast*.wmnet\n  ProxyJump %r@bast1003.wikimedia.org\nHost bast*\n  IdentitiesOnly yes\nHost *\n  User sre\n  IdentityFile ~/.ssh/id_%u_%h\n  UserKnownHostsFile ~/.ssh/known_hosts ~/.ssh/known_hosts.wmf\n  GlobalKnownHostsFile /etc/ssh/ssh_known_hosts /etc/ssh/wmf_known_hosts\n  StrictHostKeyChecking yes\n  HashKnownHosts no\n',
      '~/.ssh/config.d/wmf': 'Host mw*.eqiad.wmnet\n  Port 22\n  User deploy\nMatch originalhost cumin*\n  User root\n',
    },
    hosts: ['mw1001.eqiad.wmnet', 'cumin1001.eqiad.wmnet', 'bast1003.wikimedia.org', 'db1001.codfw.wmnet'],
  },
  {
    name: 'numeric addresses as glibc reads them (inet_aton forms, IPv6 text, case kept for addresses)',
    main: 'c',
    files: {
      c: 'Host a\n HostName 127.1\nHost b\n HostName 0x7f.0.0.1\nHost c\n HostName 010.0.0.1\nHost d\n HostName 4294967295\nHost e\n HostName 1.2.3.4.\nHost f\n HostName ::FFFF:1.2.3.4\nHost g\n HostName 2001:DB8:0:0::1\nHost h\n HostName fe80::1%lo\nHost i\n HostName 1.2.3.256\nHost j\n HostName Ab%%Cd\nHost k\n HostName AB:CD\nHost l\n HostName 1.2.3\n',
    },
    hosts: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', '127.1', 'FE80::1', '0X7F.1'],
  },
  {
    name: 'destination forms: user@host, ssh:// URIs, refused ones',
    main: 'c',
    files: { c: 'Match user bob\n  Port 2100\nHost a\n  User alice\n' },
    hosts: ['bob@a', '@a', 'ssh://a', 'ssh://bob@a', 'ssh://bob@a:2014', 'ssh://a:0', 'a@b@c', 'ssh://a/path', 'ssh://[::1]'],
  },
  {
    name: 'destination user and port lose to -l and -p',
    main: 'c',
    user: 'carol',
    port: 2999,
    files: { c: 'Match user carol\n  IdentityFile /keys/carol\nHost a\n  User alice\n' },
    hosts: ['bob@a', 'ssh://bob@a:2014'],
  },
  {
    name: 'ProxyJump takes one word; comments; none followed by more',
    main: 'c',
    files: {
      c: 'Host a\n ProxyJump j1, j2\nHost b\n ProxyJump j1 ,j2\nHost c\n ProxyJump "x y"\nHost d\n ProxyJump a,b c,d\nHost e\n ProxyJump none x\nHost f\n ProxyJump none # c\nHost g\n ProxyJump j#c\nHost h\n ProxyJump =j\n',
    },
    hosts: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'],
  },
  {
    name: 'ProxyJump ssh:// URIs: paths, parameters, escapes, IPv6 refused',
    main: 'c',
    files: {
      c: 'Host a\n ProxyJump j/\nHost b\n ProxyJump ssh://j/\nHost c\n ProxyJump ssh://j:22/\nHost d\n ProxyJump ssh://j.x.\nHost e\n ProxyJump ssh://-j\nHost f\n ProxyJump ssh://j..x\nHost g\n ProxyJump ssh://u;x=y@j\nHost h\n ProxyJump ssh://u%40v@j\nHost i\n ProxyJump ssh://u@[::1]:2222\nHost k\n ProxyJump [::1]x\nHost l\n ProxyJump J.Upper\nHost n\n ProxyJump u@\n',
    },
    hosts: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'k', 'l', 'n'],
  },
  {
    name: 'ProxyJump %r@%h:%p tokens (printed unexpanded)',
    main: 'c',
    files: { c: 'Host *\n  User deploy\n  ProxyJump %r@%h.jump:%p\n' },
    hosts: ['a'],
  },
  {
    name: 'Include: a directory reads as empty, dot-files skipped, [] globs, quoted names, nested relative',
    main: 'c',
    files: {
      c: 'Include conf.d\nInclude ~/.ssh/c[12]\nInclude ~/.ssh/inc/*\nInclude "~/.ssh/with space"\nInclude sub/a\nInclude ~/.ssh/*/cfg\n',
      '~/.ssh/conf.d/x': 'Port 2002\n',
      '~/.ssh/c1': 'Host one\n  User one\n',
      '~/.ssh/c2': 'Host two\n  User two\n',
      '~/.ssh/inc/.hidden': 'User hidden\n',
      '~/.ssh/inc/vis': 'Host vis\n  Port 2005\n',
      '~/.ssh/with space': 'Host sp\n  Port 2010\n',
      '~/.ssh/sub/a': 'Include b\n',
      '~/.ssh/b': 'Host nested\n  Port 2011\n',
      '~/.ssh/x/cfg': 'Host *\n  IdentityFile /keys/x-cfg\n',
    },
    hosts: ['one', 'two', 'vis', 'sp', 'nested', 'other'],
  },
  {
    name: 'Include in a Match block; an error in an inactive included file',
    main: 'c',
    files: {
      c: 'Match host a\n  Include ~/.ssh/x\nHost nomatch\n  Include ~/.ssh/bad\nHost *\n  Port 2008\n',
      '~/.ssh/x': 'User inx\nHost b\n  User bx\n',
      '~/.ssh/bad': 'Port 99999\n',
    },
    hosts: ['a', 'b'],
  },
  {
    name: 'known hosts files: ${ENV}, ~user, tokens; IdentityFile ~user',
    main: 'c',
    env: { KHD: '/srv/kh' },
    files: {
      c: 'Host a\n  UserKnownHostsFile ${KHD}/known ~root/kh /kh/%n-%h\n  HostName real\nHost b\n  UserKnownHostsFile ${GALLEY_UNSET_VAR}/kh\nHost c\n  UserKnownHostsFile ~nosuchuser/kh\nHost *\n  IdentityFile ~root/k\n  GlobalKnownHostsFile ~/gk /etc/%%x\n',
    },
    hosts: ['a', 'b', 'c', 'd'],
  },
  {
    name: 'Port forms strtonum takes: +22, 022, 65535; -1 is refused',
    main: 'c',
    files: { c: 'Host plus\n  Port +2022\nHost oct\n  Port 022\nHost max\n  Port 65535\n' },
    hosts: ['plus', 'oct', 'max'],
  },
  {
    name: 'Port -1 is refused',
    main: 'c',
    files: { c: 'Host *\n  Port -1\n' },
    hosts: ['x'],
  },
  {
    name: 'Match user lists with negation; two criteria of one kind; comments',
    main: 'c',
    user: 'root',
    files: {
      c: 'Match user !root,*\n  Port 2003\nMatch host a* host *b\n  Port 2004\nMatch host c # comment\n  IdentityFile /keys/c\nMatch all # comment\n  User everyone\n',
    },
    hosts: ['ab', 'a', 'c'],
  },
  {
    name: 'Match localuser list, originalhost after HostName, final pass on the new name',
    main: 'c',
    files: {
      c: 'Match localuser nobody,@LU@\n  IdentityFile /keys/local\nHost a\n  HostName b.example\nMatch originalhost b.example\n  Port 1\nMatch final host b.example\n  User fin\nHost b.example\n  Port 2023\n',
    },
    hosts: ['a', 'b.example'],
  },
  {
    name: 'RevokedHostKeys: first value wins, printed as written, none clears it',
    main: 'c',
    files: { c: 'Host a\n  RevokedHostKeys ~/revoked_keys\nHost b\n  RevokedHostKeys none\nHost *\n  RevokedHostKeys /etc/ssh/revoked\n' },
    hosts: ['a', 'b', 'c'],
  },
];
