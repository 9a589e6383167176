import type { GroupMeta } from '@galley/core';

export const group: GroupMeta = { title: 'SRE cookbooks', owner: 'SRE' };
