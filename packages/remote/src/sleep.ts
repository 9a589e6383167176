import { setTimeout as delay } from 'node:timers/promises';

/** Resolves after ms, or at once when the signal aborts (never rejects: the caller checks the signal). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal }).catch(() => undefined);
}

/** `p`, or a rejection with `aborted()` as soon as the signal aborts (the listener is removed either way). */
export async function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined, aborted: () => Error): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) throw aborted();
  let onAbort = (): void => undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        onAbort = () => reject(aborted());
        signal.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
