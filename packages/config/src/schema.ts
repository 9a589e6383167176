import { z } from 'zod';
import { conftoolSchema } from './sections/conftool.js';
import { etcdSchema } from './sections/etcd.js';
import { groupsSchema } from './sections/groups.js';
import { hostsSchema, inventorySchema, monitoringSchema, provisionerSchema } from './sections/lifecycle.js';
import { pybalSchema } from './sections/pybal.js';
import { cookbooksSchema, locksSchema, logsSchema, notifierSchema } from './sections/runner.js';
import { sshSchema } from './sections/ssh.js';

/** The whole config file. Every section is optional so that e.g. `confctl` needs only etcd. */
export const galleyConfigSchema = z
  .object({
    etcd: etcdSchema.optional(),
    conftool: conftoolSchema.default({ namespace: '/conftool' }),
    ssh: sshSchema.optional(),
    pybal: pybalSchema.optional(),
    cookbooks: cookbooksSchema.optional(),
    logs: logsSchema.optional(),
    notifier: notifierSchema.optional(),
    locks: locksSchema.optional(),
    provisioner: provisionerSchema.optional(),
    inventory: inventorySchema.optional(),
    monitoring: monitoringSchema.optional(),
    hosts: hostsSchema.optional(),
    groups: groupsSchema.optional(),
  })
  .strict();

export type GalleyConfig = z.infer<typeof galleyConfigSchema>;
/** The raw shape a config file may have (before defaults). */
export type GalleyConfigInput = z.input<typeof galleyConfigSchema>;
