// Each integration worker sees its own shared lab as GALLEY_LAB_DIR (global-setup.ts starts one per
// worker), so what a test spawns (galley-lab, cookbook) finds the same lab that sharedLab() opens.
/* global process */
import path from 'node:path';

const dirs = (process.env.GALLEY_LAB_DIRS ?? '').split(path.delimiter).filter(Boolean);
if (dirs.length > 0) process.env.GALLEY_LAB_DIR = dirs[(Number(process.env.JEST_WORKER_ID ?? '1') - 1) % dirs.length];
