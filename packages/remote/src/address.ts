/**
 * Numeric host addresses as OpenSSH sees them (ssh.c is_addr/resolve_addr: glibc's getaddrinfo
 * with AI_NUMERICHOST, then getnameinfo with NI_NUMERICHOST). Node's net.isIP knows only the
 * dotted-quad and RFC 4291 text forms, while glibc also takes inet_aton's `127.1`, `0x7f.0.0.1`,
 * `010.0.0.1` and `2130706433`, and prints IPv6 as BIND's inet_ntop does (`::ffff:1.2.3.4`).
 */
import fs from 'node:fs';

/** is_addr_fast(): a `%` or a `:` anywhere, or nothing but digits and dots. */
export function looksLikeAddress(name: string): boolean {
  return name.includes('%') || name.includes(':') || /^[0-9.]*$/.test(name);
}

/** inet_aton_exact(): 1 to 4 parts (hex 0x…, octal 0…, decimal), the last filling the remaining bytes. */
function parseIpv4(s: string): number[] | null {
  if (s === '') return null;
  const parts = s.split('.');
  if (parts.length > 4) return null;
  const vals: number[] = [];
  for (const p of parts) {
    let v: number;
    if (/^0[xX][0-9a-fA-F]*$/.test(p)) v = p.length === 2 ? 0 : parseInt(p.slice(2), 16);
    else if (/^0[0-7]*$/.test(p)) v = p.length === 1 ? 0 : parseInt(p.slice(1), 8);
    else if (/^[1-9][0-9]*$/.test(p)) v = Number(p);
    else return null;
    if (!Number.isFinite(v) || v > 0xffffffff) return null;
    vals.push(v);
  }
  const last = vals.pop() as number;
  if (vals.some((v) => v > 0xff)) return null;
  const restBits = 8 * (4 - vals.length);
  if (last >= 2 ** restBits) return null;
  const bytes = [...vals];
  for (let shift = restBits - 8; shift >= 0; shift -= 8) bytes.push(Math.floor(last / 2 ** shift) % 256);
  return bytes;
}

/** inet_pton6(): eight 16-bit words, or null. */
function parseIpv6(s: string): number[] | null {
  if (!/^[0-9a-fA-F:.]+$/.test(s)) return null;
  const dbl = s.indexOf('::');
  if (dbl !== -1 && s.indexOf('::', dbl + 1) !== -1) return null;
  const side = (t: string): number[] | null => {
    if (t === '') return [];
    const out: number[] = [];
    const groups = t.split(':');
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i] as string;
      if (i === groups.length - 1 && g.includes('.')) {
        // A dotted quad ends the address (strict: four decimal parts, as inet_pton4).
        if (!/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(g)) return null;
        const b = g.split('.').map(Number);
        if (b.some((x, k) => x > 255 || ((g.split('.')[k] as string).length > 1 && (g.split('.')[k] as string).startsWith('0'))))
          return null;
        out.push(((b[0] as number) << 8) | (b[1] as number), ((b[2] as number) << 8) | (b[3] as number));
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  if (dbl === -1) {
    const w = side(s);
    return w !== null && w.length === 8 ? w : null;
  }
  const head = side(s.slice(0, dbl));
  const tail = side(s.slice(dbl + 2));
  if (head === null || tail === null || head.length + tail.length > 7) return null;
  return [...head, ...Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/** BIND/glibc inet_ntop6: the longest run of two or more zero words as `::`, v4-mapped/compatible dotted. */
function formatIpv6(w: number[]): string {
  let best = { base: -1, len: 0 };
  let cur = { base: -1, len: 0 };
  for (let i = 0; i < 8; i++) {
    if (w[i] === 0) {
      if (cur.base === -1) cur = { base: i, len: 1 };
      else cur.len++;
    } else if (cur.base !== -1) {
      if (best.base === -1 || cur.len > best.len) best = cur;
      cur = { base: -1, len: 0 };
    }
  }
  if (cur.base !== -1 && (best.base === -1 || cur.len > best.len)) best = cur;
  if (best.base !== -1 && best.len < 2) best = { base: -1, len: 0 };
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (best.base !== -1 && i >= best.base && i < best.base + best.len) {
      if (i === best.base) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    if (i === 6 && best.base === 0 && (best.len === 6 || (best.len === 5 && w[5] === 0xffff))) {
      const a = w[6] as number;
      const b = w[7] as number;
      out += `${a >> 8}.${a & 0xff}.${b >> 8}.${b & 0xff}`;
      break;
    }
    out += (w[i] as number).toString(16);
  }
  if (best.base !== -1 && best.base + best.len === 8) out += ':';
  return out;
}

/** The interface an IPv6 scope names (`%lo`, `%1`): its name and index, or null when there is none. */
function scopeInterface(scope: string): { name: string; index: number } | null {
  try {
    if (/^\d+$/.test(scope)) {
      for (const name of fs.readdirSync('/sys/class/net')) {
        if (fs.readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8').trim() === scope) return { name, index: Number(scope) };
      }
      // getaddrinfo takes any number as a scope id.
      return { name: scope, index: Number(scope) };
    }
    const index = Number(fs.readFileSync(`/sys/class/net/${scope}/ifindex`, 'utf8').trim());
    return Number.isInteger(index) ? { name: scope, index } : null;
  } catch {
    return null;
  }
}

/**
 * getaddrinfo(AI_NUMERICHOST) then getnameinfo(NI_NUMERICHOST): the address's numeric text, or
 * null when the name is not a numeric address.
 */
export function numericAddress(name: string): string | null {
  const v4 = parseIpv4(name);
  if (v4 !== null) return v4.join('.');
  const pct = name.indexOf('%');
  const addr = pct === -1 ? name : name.slice(0, pct);
  const w = parseIpv6(addr);
  if (w === null) return null;
  let out = formatIpv6(w);
  if (pct !== -1) {
    const iface = scopeInterface(name.slice(pct + 1));
    if (iface === null) return null;
    // Link-local (fe80::/10) and link-local multicast (ff02::/16) addresses print the interface's name.
    const linkLocal = ((w[0] as number) & 0xffc0) === 0xfe80 || ((w[0] as number) & 0xff0f) === 0xff02;
    out += `%${linkLocal ? iface.name : iface.index}`;
  }
  return out;
}

/**
 * ssh.c's handling of the host name after HostName: an address (looksLikeAddress, or anything
 * numericAddress parses) is not lower-cased but replaced by its numeric text when that differs
 * other than in case; a name is lower-cased.
 */
export function normalizeHostName(host: string): { host: string; isAddress: boolean } {
  const numeric = numericAddress(host);
  if (!looksLikeAddress(host) && numeric === null) return { host: host.toLowerCase(), isAddress: false };
  if (numeric !== null && numeric.toLowerCase() !== host.toLowerCase()) return { host: numeric, isAddress: true };
  return { host, isAddress: true };
}
