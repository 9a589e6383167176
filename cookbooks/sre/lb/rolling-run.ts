import { defineCookbook } from '@galley/core';
import { commandArg, rollingArgs, rollingLock, rollingRun } from '@galley/lb';

/**
 * Spicerack's LBRemoteCluster.run: arbitrary commands, in order, on each host of each batch while
 * it is out of its pools; same safety as rolling-restart; each host's output is kept in the audit
 * log and shown grouped.
 */
export default defineCookbook({
  title: 'Run commands on a load-balanced cluster batch by batch while each host is depooled',
  args: {
    ...rollingArgs,
    command: {
      type: 'string',
      array: true,
      demandOption: true,
      describe: 'shell command to run on each host (repeat for several, run in order)',
      check: commandArg,
    },
  },
  reason: 'required',
  task: 'optional',
  lock: (args) => rollingLock(args),
  async run(ctx) {
    return rollingRun(ctx, { ...ctx.args, command: ctx.args.command.map(String) });
  },
});
