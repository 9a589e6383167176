/**
 * Host groups for `@group` / `@source:group` (ClusterShell's group sources): the `groups:` section
 * of the galley config (inline sources and ClusterShell groups.d YAML files, `source: {group:
 * expression}`), plus the built-in `conftool` source, whose group names are conftool selectors
 * (`@conftool:dc=eqiad,cluster=jobrunner`). Loaded lazily: nothing here is read or connected until
 * an expression names a group. Also holds Cumin's aliases (the same section's `aliases:`).
 */
import fs from 'node:fs';
import type { GroupsConfig, SshConfig } from './config.js';
import { NodeSetGroupError } from './errors.js';
import { NodeSet, type GroupResolver } from './nodeset.js';

/**
 * What Groups.fromConfig reads: the config's `groups:` section, and the conftool source's client
 * (undefined when the config has no etcd). @galley/remote does not know conftool: the binary that
 * loads the config builds the client (@galley/confctl/lookup's hostLookup) and hands it in. The
 * key is required so that a plain loaded config, which has none, cannot be passed by mistake and
 * silently lose the `@conftool:` source.
 */
export interface GroupsSections {
  groups?: GroupsConfig | undefined;
  conftoolLookup: (() => Promise<ConftoolLookup>) | undefined;
}

/**
 * How galley-exec and galley-nodeset read the galley config file (`-c FILE`, else the search): its
 * sections, validated, rejecting with the config's errors (`isConfigError`); `require` lists the
 * sections that must be there. @galley/remote does not load files itself: its binaries (in
 * @galley/cli) hand @galley/config's loader in.
 */
export type RemoteConfigLoader = (opts: {
  file: string | undefined;
  require?: readonly 'ssh'[];
}) => Promise<GroupsSections & { ssh?: SshConfig | undefined }>;

/** A command that reads the config file was run without a loader: the binary is wired wrong (a bug). */
export function needLoader(load: RemoteConfigLoader | undefined, who: string): RemoteConfigLoader {
  if (load === undefined)
    throw new Error(`${who} needs deps.loadConfig to read the config file (the binary passes @galley/config's loader)`);
  return load;
}

/** One group source: ClusterShell's map / list / all upcalls. */
export interface GroupSource {
  /** The raw text of a group (whitespace- or line-separated expressions), undefined when unknown. */
  map(group: string): Promise<string | readonly string[] | undefined> | string | readonly string[] | undefined;
  list(): Promise<readonly string[]> | readonly string[];
  /** Every node at once, when the source can say (a file source's `all` group); else map over list. */
  all?(): Promise<string | readonly string[] | undefined> | string | readonly string[] | undefined;
}

/** The conftool objects a selector picks (a Conftool client's get). */
export interface ConftoolLookup {
  hostsOf(selector: string): Promise<string[]>;
  allHosts(): Promise<string[]>;
  close?(): Promise<void> | void;
}

/** A source of `name: expression` groups (a ClusterShell groups.d source); `all` answers `@*`. */
export function staticSource(groups: Readonly<Record<string, string | readonly string[]>>): GroupSource {
  return {
    map: (g) => (Object.hasOwn(groups, g) ? groups[g] : undefined),
    list: () => Object.keys(groups),
    all: () => (Object.hasOwn(groups, 'all') ? groups.all : undefined),
  };
}

/** The built-in `conftool` source: a group name is a selector, its nodes the names of the matching objects. */
export function conftoolSource(lookup: () => Promise<ConftoolLookup>): GroupSource {
  return {
    async map(selector) {
      const names = await (await lookup()).hostsOf(selector);
      return names.length === 0 ? undefined : names;
    },
    list() {
      throw new NodeSetGroupError(
        '@@conftool',
        'the conftool source cannot list groups: its group names are selectors',
        "write a selector, e.g. '@conftool:dc=eqiad,cluster=jobrunner'",
      );
    },
    all: async () => (await lookup()).allHosts(),
  };
}

// ClusterShell's splitlines + split(): group text is expressions separated by any whitespace.
const splitWords = (raw: string | readonly string[]): string[] =>
  (typeof raw === 'string' ? raw : raw.join(',')).split(/\s+/).filter((w) => w !== '');

export interface GroupsOptions {
  /** The conftool source's client (connects on first use); without it `@conftool:` is refused. */
  conftool?: (() => Promise<ConftoolLookup>) | undefined;
}

/** ClusterShell's GroupResolver over galley's sources. */
export class Groups implements GroupResolver {
  readonly #sources = new Map<string, GroupSource>();
  readonly #files: readonly string[];
  #filesLoaded: Promise<void> | undefined;
  #default: string | undefined;
  readonly aliases: Readonly<Record<string, string>>;
  readonly #conftool: (() => Promise<ConftoolLookup>) | undefined;
  #conftoolUsed = false;

  constructor(cfg: GroupsConfig | undefined, opts: GroupsOptions = {}) {
    for (const [name, groups] of Object.entries(cfg?.sources ?? {})) this.#sources.set(name, staticSource(groups));
    this.#files = cfg?.files ?? [];
    const ct = opts.conftool;
    this.#conftool = ct;
    if (ct) {
      this.#sources.set(
        'conftool',
        conftoolSource(() => {
          this.#conftoolUsed = true;
          return ct();
        }),
      );
    }
    this.#default = cfg?.default;
    this.aliases = cfg?.aliases ?? {};
  }

  /** From a loaded config: its groups section, and the conftool source's client the loader built. */
  static fromConfig(cfg: GroupsSections): Groups {
    return new Groups(cfg.groups, { conftool: cfg.conftoolLookup });
  }

  get defaultSource(): string | undefined {
    if (this.#default !== undefined) return this.#default;
    const first = [...this.#sources.keys()].find((n) => n !== 'conftool');
    return first ?? (this.#sources.has('conftool') ? 'conftool' : undefined);
  }

  /** The source names, the default first (`galley-nodeset --groupsources`). */
  async sources(): Promise<string[]> {
    await this.#loadFiles();
    const names = [...this.#sources.keys()];
    const d = this.defaultSource;
    return d === undefined ? names : [d, ...names.filter((n) => n !== d)];
  }

  /** Close the conftool source's etcd connection, if an expression opened it. */
  async close(): Promise<void> {
    if (this.#conftoolUsed && this.#conftool) await (await this.#conftool()).close?.();
  }

  /** `-s SOURCE`: make another source the default one. */
  setDefault(source: string): void {
    this.#default = source;
  }

  async #source(name: string | undefined): Promise<GroupSource> {
    await this.#loadFiles();
    const key = name === undefined || name === '' ? this.defaultSource : name;
    const src = key === undefined ? undefined : this.#sources.get(key);
    if (!src) {
      const known = [...this.#sources.keys()];
      throw new NodeSetGroupError(
        `@${name ? `${name}:` : ''}…`,
        key === undefined ? 'no default group source is configured' : `unknown group source '${key}'`,
        `known sources: ${known.length ? known.join(', ') : '(none)'}; add sources under groups: in the galley config`,
      );
    }
    return src;
  }

  async groupNodes(group: string, source: string | undefined): Promise<string[]> {
    const raw = await (await this.#source(source)).map(group);
    if (raw === undefined) {
      // ClusterShell reads an unknown group as empty; galley refuses it: `a[1-9]!@typo` would remove nothing.
      const where = source ? `${source}:` : '';
      throw new NodeSetGroupError(
        `@${where}${group}`,
        `no group '${group}' in the ${source ?? this.defaultSource} group source`,
        `list the groups with galley-nodeset -l${source ? ` -s ${source}` : ''}`,
      );
    }
    return splitWords(raw);
  }

  async allNodes(source: string | undefined): Promise<string[]> {
    const src = await this.#source(source);
    const all = await src.all?.();
    if (all !== undefined) return splitWords(all);
    // ClusterShell's fallback: every group of the list, the names scanned as node sets and sorted.
    const out: string[] = [];
    for (const g of NodeSet.parse(...(await this.groupList(source))).hosts()) {
      const raw = await src.map(g);
      if (raw !== undefined) out.push(...splitWords(raw));
    }
    return out;
  }

  async groupList(source: string | undefined): Promise<string[]> {
    const names = splitWords([...(await (await this.#source(source)).list())].join(' '));
    for (const n of names) {
      const bad = [...n].filter((c) => '@,!&^*'.includes(c));
      if (bad.length)
        throw new NodeSetGroupError(
          `@@${source ?? ''}`,
          `group name '${n}' has the illegal character(s) ${bad.join(' ')}`,
          'rename the group',
        );
    }
    return names;
  }

  #loadFiles(): Promise<void> {
    this.#filesLoaded ??= (async () => {
      if (this.#files.length === 0) return;
      const { parse } = await import('yaml');
      for (const file of this.#files) {
        let doc: unknown;
        try {
          doc = parse(fs.readFileSync(file, 'utf8'));
        } catch (err) {
          throw new NodeSetGroupError(
            `(groups file ${file})`,
            `cannot read groups file ${file}: ${(err as Error).message}`,
            'groups files are ClusterShell groups.d YAML: {source: {group: expression}}',
          );
        }
        if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
          throw new NodeSetGroupError(
            `(groups file ${file})`,
            `${file}: the top level is not a mapping of group sources`,
            'write source: {group: expression}',
          );
        }
        for (const [name, groups] of Object.entries(doc as Record<string, unknown>)) {
          const ok =
            typeof groups === 'object' &&
            groups !== null &&
            !Array.isArray(groups) &&
            Object.values(groups).every((v) => typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string')));
          if (!ok)
            throw new NodeSetGroupError(
              `(groups file ${file})`,
              `${file}: source '${name}' is not a mapping of group names to expressions`,
              'quote the expressions',
            );
          if (this.#sources.has(name))
            throw new NodeSetGroupError(
              `(groups file ${file})`,
              `${file}: group source '${name}' is defined twice`,
              'give each source one home',
            );
          this.#sources.set(name, staticSource(groups as Record<string, string | string[]>));
        }
      }
    })();
    return this.#filesLoaded;
  }
}
