export { MemoryKv } from './memory-kv.js';
