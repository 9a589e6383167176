/**
 * Who is acting, as the owner markers record it: the person, also under sudo (SUDO_USER first, as
 * the runbooks' `sudo confctl …` and `sudo cookbook …` are run), else USER, else the account.
 * One home for confctl's hand changes and galley's runs, so that an operator's own depool is
 * recognised as theirs whichever tool made it. Light: no etcd, importable at start-up.
 */
import { userInfo } from 'node:os';

export function operatorUser(env: NodeJS.ProcessEnv = process.env): string {
  const u = env.SUDO_USER || env.USER;
  if (u) return u;
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

/** The owner id of a change made by hand (no run): `operator:<user>`. */
export function operatorOwner(user: string = operatorUser()): string {
  return `operator:${user}`;
}
