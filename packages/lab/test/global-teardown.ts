import path from 'node:path';
import { stopDir } from '@galley/lab';

export default async function globalTeardown(): Promise<void> {
  // Only labs this run started; never the user's own GALLEY_LAB_DIR.
  if (process.env.GALLEY_LAB_OWNED === '1' && process.env.GALLEY_LAB_DIRS) {
    await Promise.all(process.env.GALLEY_LAB_DIRS.split(path.delimiter).map((dir) => stopDir(dir)));
    delete process.env.GALLEY_LAB_DIRS;
    delete process.env.GALLEY_LAB_OWNED;
  }
}
