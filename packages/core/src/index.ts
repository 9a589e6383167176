export {
  defineCookbook,
  isCookbook,
  isInitSuccess,
  resolveLockSpec,
  InitSuccess,
  DEFAULT_LOCK,
  type AnyCookbook,
  type ArgCheck,
  type ArgOption,
  type ArgSpec,
  type ArgsOf,
  type Cookbook,
  type CookbookEvent,
  type GroupMeta,
  type Journal,
  type JournalEntry,
  type Leftover,
  type LockSpec,
  type Logger,
  type NamedLockOptions,
  type PlannedChange,
  type Progress,
  type RunContext,
  type TaskHandle,
} from './cookbook.js';
export type {
  ChangeLike,
  ClientHooks,
  Clients,
  ConftoolClient,
  ConftoolNodeLike,
  EtcdCompare,
  LbSettings,
  NodeTags,
  PybalServiceClient,
  Pooled,
  RemoteClient,
} from './clients.js';
export {
  ArgsError,
  ArgSpecError,
  ConfirmationError,
  CookbookNotFoundError,
  LockExpiredError,
  LockLostError,
  LockTimeoutError,
  LockUnconfirmedError,
  ResumeRefusedError,
  RunNotRunningError,
  WriteInPrepareError,
  isConfirmationError,
  isRunNotRunningError,
  isLockFailure,
  type ArgProblem,
  type LockHolderInfo,
} from './errors.js';
export { fanout, type RunEvent, type RunEventBody, type RunSink, type RunSummary, type LogLevel } from './events.js';
export {
  executeCookbook,
  newRunId,
  nonInteractiveConfirm,
  PAUSE_POLL_MS,
  type PauseInfo,
  type PauseReader,
  type JournalStore,
  type Notifier,
  type ParsedCookbookArgs,
  type RunnerDeps,
  type RunRequest,
  type RunResult,
  type StoredJournal,
} from './execute.js';
export {
  argvShape,
  checkArgSpec,
  checkReason,
  cookbookArgSpec,
  checkTaskId,
  normalizeArgv,
  parseSimpleArgv,
  redactArgs,
  redactArgv,
  runnerArgSpec,
  validateCookbookArgs,
} from './args.js';
export {
  NoLockSession,
  RUNNER_LOCK_KINDS,
  namedLockProblem,
  type AcquireOptions,
  type AcquireResult,
  type LockSession,
} from './locks/types.js';
export {
  Catalog,
  discover,
  defaultImporter,
  editDistance,
  renderTree,
  type CookbookInfo,
  type DiscoverOptions,
  type GroupInfo,
  type Importer,
  type LoadFailure,
} from './discovery.js';
export { AuditLog, auditFileFor, type AuditIndexLine, type AuditLogOptions } from './audit.js';
export { webhookNotifier, type WebhookOptions } from './notifier.js';
// EtcdLocks, EtcdLockSession and EtcdJournal are in `@galley/core/locks` (they load etcd3).
// Guards for the clients' errors, so cookbooks match them without their code strings (each from the
// owning package's light errors module: no etcd3, no ssh2).
export { isNoMatchError } from '@galley/confctl/errors';
export { isEtcdError } from '@galley/etcd/errors';
export { isRebootTimeoutError } from '@galley/remote/errors';
// Host sets for cookbooks, in ClusterShell NodeSet syntax (the remote package's one parser; loads no ssh2).
export {
  NodeSet,
  NodeSetGroupError,
  NodeSetSizeError,
  NodeSetSyntaxError,
  MAX_NODESET_SIZE,
  type GroupResolver,
} from '@galley/remote/nodeset';
