/**
 * The first OpenSSH public key in some text (a .pub file, a known_hosts line, tool output),
 * as `type base64` without host names or comment; undefined if there is none.
 */
export function parsePublicKey(text: string): string | undefined {
  for (const line of text.split('\n')) {
    const m = /(?:^|\s)((?:ssh-(?:ed25519|rsa|dss)|ecdsa-sha2-nistp(?:256|384|521)|sk-[a-z0-9@.-]+)) ([A-Za-z0-9+/]+={0,3})(?:\s|$)/.exec(
      line.trim(),
    );
    if (m) return `${m[1]!} ${m[2]!}`;
  }
  return undefined;
}
