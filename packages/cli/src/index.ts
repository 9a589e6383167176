export { main, type CliDeps, type CliIo } from './main.js';
export { parseGlobals, globalHelp, type GlobalOptions } from './globals.js';
export { parseCookbookArgs, cookbookHelp } from './args.js';
export { textSink, ndjsonSink, describeChange } from './render.js';
export { realClients, type BaseClients } from './factories.js';
