import { fakeFleet, transportContract } from './testing/index.js';

transportContract('FakeTransport', () => {
  const transport = fakeFleet(['down1']);
  return Promise.resolve({ transport, hosts: ['h1', 'h2'], unreachable: 'down1', close: () => transport.close() });
});
