import { describe, expect, it } from '@jest/globals';
import { parseJump, SshConfigResolver } from './ssh-config.js';

const CFG = `
Host bastion
  HostName 127.0.0.1
  Port 22100
  User ops

Host *.behind
  ProxyJump bastion,jump2:2200

Host mw*
  HostName %h.eqiad.wmnet
  IdentityFile /keys/mw

Host h1
  HostName 127.0.0.1
  Port 22001
  HostKeyAlias h1.lab

Host *
  IdentityFile /keys/default
  User root
`;

describe('SshConfigResolver', () => {
  const r = new SshConfigResolver({ text: CFG, defaultUser: 'galley', identityFiles: ['/keys/cfg'] });

  it('applies Host patterns with first-value-wins', () => {
    expect(r.resolve('bastion')).toMatchObject({ hostname: '127.0.0.1', port: 22100, user: 'ops', proxyJump: [] });
    expect(r.resolve('mw1001')).toMatchObject({
      hostname: 'mw1001.eqiad.wmnet', port: 22, user: 'root', identityFiles: ['/keys/mw', '/keys/default', '/keys/cfg'],
    });
  });

  it('parses ProxyJump with several hops', () => {
    expect(r.resolve('x.behind').proxyJump).toEqual([{ host: 'bastion' }, { host: 'jump2', port: 2200 }]);
    expect(parseJump('ops@b:2222')).toEqual({ host: 'b', user: 'ops', port: 2222 });
  });

  it('looks host keys up by alias and [hostname]:port, or HostKeyAlias', () => {
    expect(r.resolve('bastion').knownHostsNames).toEqual(['[127.0.0.1]:22100', '[bastion]:22100']);
    expect(r.resolve('h1').knownHostsNames).toEqual(['h1.lab']);
  });

  it('without a file uses the config user and identities', () => {
    const plain = new SshConfigResolver({ defaultUser: 'root', identityFiles: ['/k'] });
    expect(plain.resolve('db1001')).toEqual({
      alias: 'db1001', hostname: 'db1001', port: 22, user: 'root', identityFiles: ['/k'], proxyJump: [], knownHostsNames: ['db1001'],
    });
  });

  it('user and port overrides win (jump specs user@host:port)', () => {
    expect(r.resolve('bastion', { user: 'me', port: 2 })).toMatchObject({ user: 'me', port: 2 });
  });
});
