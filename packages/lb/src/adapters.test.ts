import { FakeConftool } from '@galley/confctl/testing';
import { conftoolStore } from './adapters.js';
import { describePoolStoreContract } from './testing/index.js';

// The confctl adapter over the real Conftool logic (in-memory kv); the same suite runs on the lab's etcd.
describePoolStoreContract('conftoolStore over FakeConftool', async () => {
  const hosts: [string, string, string] = ['mw1001.eqiad.wmnet', 'mw1002.eqiad.wmnet', 'mw1003.eqiad.wmnet'];
  const c = new FakeConftool().seed({
    [`eqiad/jobrunner/nginx/${hosts[0]}`]: { pooled: 'yes', weight: 10 },
    [`eqiad/jobrunner/nginx/${hosts[1]}`]: { pooled: 'no', weight: 10 },
    [`eqiad/jobrunner/nginx/${hosts[2]}`]: { pooled: 'inactive', weight: 10 },
    'codfw/jobrunner/nginx/mw2001.codfw.wmnet': { pooled: 'yes', weight: 10 },
  });
  const key = (h: string): string => `/conftool/v1/pools/eqiad/jobrunner/nginx/${h}`;
  return {
    store: conftoolStore(c),
    dc: 'eqiad',
    cluster: 'jobrunner',
    hosts,
    read: async (h) => (await c.select({ name: h.replace(/\./g, '\\.') }))[0]?.pooled,
    write: async (h, pooled) => {
      c.memory.put(key(h), JSON.stringify({ pooled, weight: 10 }));
    },
    close: async () => {},
  };
});
