import { noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';

/**
 * etcd3 client for lab internals. The default circuit breaker turns one failed call into 5 s of
 * BrokenCircuitError (toolchain.md §3), which would make member-stop tests flaky: disable it.
 */
export function labEtcd(endpoints: string[]): Etcd3 {
  return new Etcd3({
    hosts: endpoints,
    dialTimeout: 3000,
    faultHandling: { host: () => noop, global: noop },
  });
}
