import crypto from 'node:crypto';

/**
 * ed25519 keys in OpenSSH's own formats, generated in-process: ssh-keygen costs a fork per key,
 * which is most of `up`'s time on a loaded 2-core machine. Formats: PROTOCOL.key (private key,
 * unencrypted) and RFC 8709 (public key blob).
 */
function sshString(b: Buffer | string): Buffer {
  const buf = typeof b === 'string' ? Buffer.from(b) : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(buf.length);
  return Buffer.concat([len, buf]);
}

export interface Ed25519Key {
  /** OpenSSH private key file content. */
  privateKey: string;
  /** `ssh-ed25519 AAAA… comment` */
  publicKey: string;
  /** The same private key for node:crypto (signing host certificates). */
  keyObject: crypto.KeyObject;
}

export function generateEd25519(comment: string): Ed25519Key {
  const { privateKey: keyObject } = crypto.generateKeyPairSync('ed25519');
  const jwk = keyObject.export({ format: 'jwk' });
  const seed = Buffer.from(jwk.d!, 'base64url');
  const pub = Buffer.from(jwk.x!, 'base64url');
  const blob = Buffer.concat([sshString('ssh-ed25519'), sshString(pub)]);
  const check = crypto.randomBytes(4);
  let priv = Buffer.concat([
    check,
    check,
    sshString('ssh-ed25519'),
    sshString(pub),
    sshString(Buffer.concat([seed, pub])),
    sshString(comment),
  ]);
  const pad: number[] = [];
  for (let i = 1; (priv.length + pad.length) % 8 !== 0; i++) pad.push(i);
  priv = Buffer.concat([priv, Buffer.from(pad)]);
  const nkeys = Buffer.alloc(4);
  nkeys.writeUInt32BE(1);
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0'),
    sshString('none'),
    sshString('none'),
    sshString(''),
    nkeys,
    sshString(blob),
    sshString(priv),
  ]);
  const b64 = body.toString('base64').replace(/.{1,70}/g, '$&\n');
  return {
    privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${b64}-----END OPENSSH PRIVATE KEY-----\n`,
    publicKey: `ssh-ed25519 ${blob.toString('base64')} ${comment}`,
    keyObject,
  };
}

function uint64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/**
 * An OpenSSH host certificate (PROTOCOL.certkeys, `ssh-ed25519-cert-v01@openssh.com`, type 2)
 * for an ed25519 host key, signed by an ed25519 CA: what `ssh-keygen -s CA -h -I ID -n
 * PRINCIPALS key.pub` writes, valid always (no validity interval, as ssh-keygen's default).
 * Returns the `…-cert.pub` line.
 */
export function signHostCertificate(
  ca: Ed25519Key,
  hostPublicKey: string,
  o: { keyId: string; principals: string[]; serial?: bigint },
): string {
  const hostBlob = Buffer.from(hostPublicKey.split(' ')[1] ?? '', 'base64');
  // The host key blob is string "ssh-ed25519", string pk: keep pk.
  const pk = hostBlob.subarray(4 + hostBlob.readUInt32BE(0) + 4);
  const caBlob = Buffer.from(ca.publicKey.split(' ')[1] ?? '', 'base64');
  const type = 'ssh-ed25519-cert-v01@openssh.com';
  const body = Buffer.concat([
    sshString(type),
    sshString(crypto.randomBytes(32)),
    sshString(pk),
    uint64(o.serial ?? 0n),
    uint32(2),
    sshString(o.keyId),
    sshString(Buffer.concat(o.principals.map((p) => sshString(p)))),
    uint64(0n),
    uint64(0xffffffffffffffffn),
    sshString(''),
    sshString(''),
    sshString(''),
    sshString(caBlob),
  ]);
  const sig = crypto.sign(null, body, ca.keyObject);
  const cert = Buffer.concat([body, sshString(Buffer.concat([sshString('ssh-ed25519'), sshString(sig)]))]);
  return `${type} ${cert.toString('base64')} ${o.keyId}`;
}
