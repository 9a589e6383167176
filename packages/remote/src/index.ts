export { NodeSet } from './nodeset.js';
export { Remote, defaultSshConfig, type RemoteHooks, type RemoteOptions } from './remote.js';
export type {
  CommandSpec, CommandResult, HostResult, HostFailure, RunOptions, HostEvent, RunReport, Transport, ExecRequest, ExecOutcome,
} from './types.js';
export { shellQuote, quoteArgv, renderCommand, displayCommand } from './command.js';
export { KnownHosts, fingerprint } from './known-hosts.js';
export { SshConfigResolver, type HostTarget } from './ssh-config.js';
export { SshPool, ALGORITHMS } from './pool.js';
export { schedule, resolveBatchSize, groupOutputs } from './scheduler.js';
export { NodeSetSyntaxError, RunOptionsError, NoHostsError, SshSetupError, RebootTimeoutError, RebootBaselineError } from './errors.js';
