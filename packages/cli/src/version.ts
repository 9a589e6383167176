import fs from 'node:fs';

/** This package's version (package.json next to dist/), read when asked. */
export function version(): string {
  try {
    return (JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
