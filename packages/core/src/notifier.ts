/**
 * START/END announcements to a webhook (Spicerack's SAL lines). A failure is reported through
 * `onError` and never fails the run.
 */
import { redact } from '@galley/errors';
import type { Notifier } from './execute.js';

export interface WebhookOptions {
  url: string;
  timeoutMs: number;
  user: string;
  onError(message: string): void;
}

export function webhookNotifier(opts: WebhookOptions): Notifier {
  return {
    async send(raw) {
      // The runner builds these lines from redacted parts; redacted again here, the last place before the network.
      const line = redact(raw);
      try {
        const { request } = await import('undici');
        const res = await request(opts.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ text: `${opts.user} ${line}`, user: opts.user, message: line }),
          headersTimeout: opts.timeoutMs,
          bodyTimeout: opts.timeoutMs,
          signal: AbortSignal.timeout(opts.timeoutMs),
        });
        await res.body.dump();
        if (res.statusCode >= 300) opts.onError(`notifier ${new URL(opts.url).host} answered HTTP ${res.statusCode}`);
      } catch (err) {
        opts.onError(`notifier ${safeHost(opts.url)} failed: ${(err as Error).message}`);
      }
    },
  };
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(invalid url)';
  }
}
