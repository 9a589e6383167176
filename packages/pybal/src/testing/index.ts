export { FakePybal, textStatus, type FakeMode } from './fake-server.js';
export { pybalApiContract, type ContractTarget } from './contract.js';
