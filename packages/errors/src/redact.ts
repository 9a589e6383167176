/**
 * Redaction, by value and by pattern: the one home for "secrets never reach logs". Every place that
 * shows or stores text (the runner's events, hence text/TTY/NDJSON output and the audit log; error
 * rendering; the notifier) calls `redact`/`redactObject`, which
 *  1. replace every value registered with `addSecrets` (the values of `secret: true` arguments, the
 *     passwords and tokens of the config) wherever it appears, also JSON-escaped or URL-encoded;
 *  2. then replace credentials recognisable in free text: `password=`, `token=`, `*_token=`,
 *     `api[-_]key=`, `--password VALUE`, `Authorization: Bearer|Basic …` (the whole credential), a
 *     bare `Bearer …`, credentials in URLs, PEM private keys, and a few well-known token shapes;
 *  3. in objects, also the value of every field whose name says it is a credential.
 * Like GitHub Actions' masks, registered values stay registered for the life of the process.
 */

export const REDACTED = '***';

/**
 * Values shorter than this are not replaced by value: masking "no" or "80" everywhere would make
 * the output unreadable, and a secret that short is no secret. Their names still redact them.
 */
const MIN_SECRET_LENGTH = 4;

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A set of secret values and the one regex that finds any of them (longest first). */
export class SecretValues {
  readonly #values = new Set<string>();
  #re: RegExp | undefined;

  /** Registers each string (or number) value, and the forms it takes once JSON-escaped or URL-encoded. */
  add(...values: unknown[]): void {
    let added = false;
    for (const v of values.flat(2)) {
      if (typeof v !== 'string' && typeof v !== 'number') continue;
      const s = String(v);
      if (s.length < MIN_SECRET_LENGTH) continue;
      for (const form of [s, JSON.stringify(s).slice(1, -1), encodeURIComponent(s)]) {
        if (this.#values.has(form)) continue;
        this.#values.add(form);
        added = true;
      }
    }
    if (added)
      this.#re = new RegExp(
        [...this.#values]
          .sort((a, b) => b.length - a.length)
          .map(escapeRegExp)
          .join('|'),
        'g',
      );
  }

  get size(): number {
    return this.#values.size;
  }

  replace(text: string): string {
    return this.#re === undefined ? text : text.replace(this.#re, REDACTED);
  }
}

/** The process's registry: what `redact` and `redactObject` use unless given another. */
export const secretValues = new SecretValues();

/** Register secret values with the process's registry (see SecretValues.add). */
export function addSecrets(...values: unknown[]): void {
  secretValues.add(...values);
}

/** Words that make a `key=value`, a `--flag value` or an object field a credential. */
const SECRET_WORD = String.raw`(?:password|passwd|passphrase|passcode|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|credentials?|session[-_]?id|cookie)`;
/** A whole key containing a secret word: `password`, `MY_TOKEN`, `x-api-key`, `client_secret`, `--db-password`. */
const SECRET_KEY = String.raw`[A-Za-z0-9_.-]*${SECRET_WORD}[A-Za-z0-9_-]*`;

/** Field names whose (non-object) values are blanked in objects. */
const SECRET_FIELD = new RegExp(`^(?:${SECRET_KEY}|authorization|auth)$`, 'i');

type Rule = [RegExp, string | ((...m: string[]) => string)];

/** A value after `key=`/`key:`: double- or single-quoted (whole), or a run of non-separators. */
const VALUE = String.raw`(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([^\s"',;&}\])]+))`;
const keepQuotes = (_m: string, key: string, q: string, sep: string, dq?: string, sq?: string): string =>
  `${key}${q}${sep}${dq !== undefined ? `"${REDACTED}"` : sq !== undefined ? `'${REDACTED}'` : REDACTED}`;

const RULES: Rule[] = [
  // PEM private keys, whole.
  [/-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY)-----[\s\S]*?-----END \1-----/g, `-----BEGIN $1-----${REDACTED}-----END $1-----`],
  // Credentials in URLs: scheme://user:password@ and https://token@
  [/\b([a-z][a-z0-9+.-]*:\/\/)([^/@\s:'"]*):([^/@\s'"]+)@/gi, `$1$2:${REDACTED}@`],
  [/\b(https?:\/\/)([^/@\s:'"]+)@/gi, `$1${REDACTED}@`],
  // Authorization headers: the whole credential, the scheme kept (`Authorization: Bearer ***`).
  [
    /\b((?:proxy-)?authorization)(["']?\s*[:=]\s*["']?)(?:(bearer|basic|digest|token|negotiate|apikey)\s+)?([^\s"',;]+)/gi,
    (_m, name, sep, scheme) => `${name}${sep}${scheme ? `${scheme} ` : ''}${REDACTED}`,
  ],
  // A bearer token anywhere else (`curl -H 'Bearer abc'`).
  [/\b(bearer)\s+(?!\*\*\*)[A-Za-z0-9._~+/=-]+/gi, `$1 ${REDACTED}`],
  // key=value, and key: value (JSON, YAML, headers) for a key that is not a `--flag` (`argument
  // --token: must be …` names the argument, it has no value); quoted values whole.
  [new RegExp(String.raw`(?<![\w-])(${SECRET_KEY})(["']?)(\s*=\s*)${VALUE}`, 'gi'), keepQuotes],
  [
    new RegExp(String.raw`(?<![\w-])((?:[A-Za-z0-9_.][A-Za-z0-9_.-]*)?${SECRET_WORD}[A-Za-z0-9_-]*)(["']?)(:\s*)${VALUE}`, 'gi'),
    keepQuotes,
  ],
  // --password VALUE (the word after a credential flag).
  [new RegExp(String.raw`(?<![\w-])(--?${SECRET_KEY})(\s+)(?!-)(?!\*\*\*)("[^"]*"|'[^']*'|\S+)`, 'gi'), `$1$2${REDACTED}`],
  // Well-known token shapes, whatever surrounds them.
  [/\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g, REDACTED],
  [/\bgh[pousr]_[A-Za-z0-9]{30,}/g, REDACTED],
  [/\bxox[abposr]-[A-Za-z0-9-]{10,}/g, REDACTED],
  [/\bAKIA[0-9A-Z]{16}\b/g, REDACTED],
];

/** Text with every registered secret value and every recognisable credential replaced by `***`. */
export function redact(text: string, values: SecretValues = secretValues): string {
  let out = values.replace(text);
  for (const [re, to] of RULES) out = out.replace(re, to as string);
  return out;
}

/**
 * A deep copy with every string redacted, and the value of every field named like a credential
 * (`password`, `token`, `apiKey`, `authorization`, …) replaced by `***`. Booleans stay (`secret: true`
 * says nothing secret).
 */
export function redactObject<T>(value: T, values: SecretValues = secretValues): T {
  if (typeof value === 'string') return redact(value, values) as T;
  if (Array.isArray(value)) return value.map((v) => redactObject(v as unknown, values)) as T;
  if (value == null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] = SECRET_FIELD.test(k) && (typeof v === 'string' || typeof v === 'number') ? REDACTED : redactObject(v, values);
  }
  return out as T;
}

/**
 * The secret values in a configuration: every string under a credential-named field (etcd's
 * `auth.password`, a monitoring `token`, …), every value of a `headers:` map (an Alertmanager
 * behind an auth proxy), the password of every URL with credentials, and the whole URL of a
 * webhook (a Slack-style webhook URL is itself the credential).
 */
export function secretValuesIn(config: unknown): string[] {
  const out: string[] = [];
  const walk = (v: unknown, key: string | undefined): void => {
    // HTTP headers set in a config (an auth proxy's) are credentials, whatever they are called.
    if (key !== undefined && /^headers$/i.test(key) && v !== null && typeof v === 'object' && !Array.isArray(v)) {
      for (const x of Object.values(v)) if (typeof x === 'string') out.push(x);
      return;
    }
    if (typeof v === 'string') {
      if (key !== undefined && (SECRET_FIELD.test(key) || /^webhook$/i.test(key))) out.push(v);
      for (const m of v.matchAll(/\b[a-z][a-z0-9+.-]*:\/\/[^/@\s:]*:([^/@\s]+)@/gi)) out.push(m[1]!);
      return;
    }
    if (typeof v === 'number' && key !== undefined && SECRET_FIELD.test(key)) out.push(String(v));
    if (Array.isArray(v)) for (const x of v) walk(x, key);
    else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k);
  };
  walk(config, undefined);
  return out;
}
