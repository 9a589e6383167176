import type { GroupMeta } from '@galley/core';

export const group: GroupMeta = { title: 'Host lifecycle', owner: 'Infrastructure Foundations' };
