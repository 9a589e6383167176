import { conftoolSection } from '@galley/confctl/config';
import { etcdSection } from '@galley/etcd/config';
import type { ConfigSection } from '@galley/errors/config';
import { hostsSection, inventorySection, monitoringSection, provisionerSection } from '@galley/lifecycle/config';
import { lbSection } from '@galley/lb/config';
import { pybalSection } from '@galley/pybal/config';
import { groupsSection, sshSection } from '@galley/remote/config';
import { z } from 'zod';
import { cookbooksSection, locksSection, logsSection, notifierSection } from './sections/runner.js';

/**
 * The config file's sections, each owned by the package that uses it (its schema and defaults
 * live there, in `@galley/<pkg>/config`); the runner's own are in sections/runner.ts.
 */
export const SECTIONS = {
  etcd: etcdSection,
  conftool: conftoolSection,
  ssh: sshSection,
  pybal: pybalSection,
  cookbooks: cookbooksSection,
  logs: logsSection,
  notifier: notifierSection,
  locks: locksSection,
  provisioner: provisionerSection,
  inventory: inventorySection,
  monitoring: monitoringSection,
  hosts: hostsSection,
  groups: groupsSection,
  lb: lbSection,
} as const satisfies Record<string, ConfigSection>;

/** The whole config file. Every section is optional (conftool has a default) so that e.g. `confctl` needs only etcd. */
export const galleyConfigSchema = z
  .object({
    etcd: SECTIONS.etcd.schema.optional(),
    conftool: SECTIONS.conftool.schema,
    ssh: SECTIONS.ssh.schema.optional(),
    pybal: SECTIONS.pybal.schema.optional(),
    cookbooks: SECTIONS.cookbooks.schema.optional(),
    logs: SECTIONS.logs.schema.optional(),
    notifier: SECTIONS.notifier.schema.optional(),
    locks: SECTIONS.locks.schema.optional(),
    provisioner: SECTIONS.provisioner.schema.optional(),
    inventory: SECTIONS.inventory.schema.optional(),
    monitoring: SECTIONS.monitoring.schema.optional(),
    hosts: SECTIONS.hosts.schema.optional(),
    groups: SECTIONS.groups.schema.optional(),
    lb: SECTIONS.lb.schema.optional(),
  })
  .strict();

export type GalleyConfig = z.infer<typeof galleyConfigSchema>;
/** The raw shape a config file may have (before defaults). */
export type GalleyConfigInput = z.input<typeof galleyConfigSchema>;
