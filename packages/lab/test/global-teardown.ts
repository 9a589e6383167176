import { stopDir } from '@galley/lab';

export default async function globalTeardown(): Promise<void> {
  // Only a lab this run started; never the user's own GALLEY_LAB_DIR.
  if (process.env.GALLEY_LAB_OWNED === '1' && process.env.GALLEY_LAB_DIR) {
    await stopDir(process.env.GALLEY_LAB_DIR);
    delete process.env.GALLEY_LAB_DIR;
    delete process.env.GALLEY_LAB_OWNED;
  }
}
