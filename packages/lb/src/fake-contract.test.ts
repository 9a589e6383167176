import { describePoolStoreContract, FakeFleet } from './testing/index.js';

describePoolStoreContract('FakeFleet', async () => {
  const hosts: [string, string, string] = ['mw1001.eqiad.wmnet', 'mw1002.eqiad.wmnet', 'mw1003.eqiad.wmnet'];
  const fleet = new FakeFleet({
    hosts: [
      { name: hosts[0], services: ['nginx'] },
      { name: hosts[1], services: ['nginx'], pooled: { nginx: 'no' } },
      { name: hosts[2], services: ['nginx'], pooled: { nginx: 'inactive' } },
      { name: 'mw2001.codfw.wmnet', dc: 'codfw', services: ['nginx'] },
    ],
  });
  const find = (host: string) => [...fleet.objects.values()].find((o) => o.tags.name === host);
  return {
    store: fleet.store,
    dc: 'eqiad',
    cluster: 'jobrunner',
    hosts,
    read: async (host) => find(host)?.pooled,
    write: async (host, pooled, weight) => {
      const o = find(host);
      if (o) {
        o.pooled = pooled;
        if (weight !== undefined) o.weight = weight;
        fleet.corrupt.delete(o.key);
      }
    },
    corrupt: async (host) => {
      const o = find(host);
      if (o) fleet.corrupt.add(o.key);
    },
    close: async () => {},
  };
});
