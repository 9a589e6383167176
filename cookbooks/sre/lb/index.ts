import type { GroupMeta } from '@galley/core';

export const group: GroupMeta = { title: 'Load-balanced clusters: rolling operations, pool/depool, status', owner: 'Traffic' };
