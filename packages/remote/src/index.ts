export { NodeSet, MAX_NODESET_SIZE, type GroupResolver } from './nodeset.js';
export {
  Groups,
  staticSource,
  conftoolSource,
  type GroupSource,
  type ConftoolLookup,
  type GroupsOptions,
  type GroupsSections,
  type RemoteConfigLoader,
} from './groups.js';
export { Remote, type RemoteHooks, type RemoteOptions } from './remote.js';
export type { SshConfig, GroupsConfig } from './config.js';
export { defaultSshConfig } from './ssh-defaults.js';
export type {
  CommandSpec,
  CommandResult,
  HostResult,
  HostFailure,
  RunOptions,
  HostEvent,
  RunReport,
  Transport,
  ExecRequest,
  ExecOutcome,
} from './types.js';
export { shellQuote, quoteArgv, renderCommand, displayCommand } from './command.js';
export { KnownHosts, HostKeyStore, fingerprint, type HostKeyVerdict } from './known-hosts.js';
export { SshConfigResolver, type HostTarget } from './ssh-config.js';
export { SshPool, ALGORITHMS } from './pool.js';
export { OpenSshTransport, opensshConfigText, type OpenSshOptions, type HostKeyPolicy, type OpenSshConfigParts } from './openssh.js';
export { schedule, resolveBatchSize, groupOutputs } from './scheduler.js';
export {
  NodeSetSyntaxError,
  NodeSetSizeError,
  NodeSetGroupError,
  RunOptionsError,
  NoHostsError,
  SshSetupError,
  RebootTimeoutError,
  RebootBaselineError,
  HostCertificateUnsupportedError,
  isRebootTimeoutError,
} from './errors.js';
export {
  parseHostQuery,
  resolveHostQuery,
  HostQueryError,
  HostAliasError,
  type QueryNode,
  type BoolOp,
  type HostQueryOptions,
} from './query.js';
