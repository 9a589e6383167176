import { Conftool } from './conftool.js';
import { MemoryKv, describeConftoolContract } from './testing/index.js';

describeConftoolContract('in-memory store', async () => {
  const kv = new MemoryKv();
  return {
    conftool: (opts) => new Conftool(kv, opts),
    put: async (key, value) => void kv.put(key, value),
    getRaw: async (key) => (await kv.get(key))?.value,
    del: async (key) => kv.delete(key),
    revision: () => kv.revision(),
    breakWatches: async () => {
      kv.compact();
      kv.breakWatches();
    },
    close: async () => kv.close(),
  };
});
