// Running the nft binary once: `nft -f -` with a script, or another command, for the nftables
// proxy's full syncs, listings and table deletion; its failures put in words a user can act on.
import { spawn } from 'node:child_process';

/** An nft failure, with the reason put in words a user can act on. */
export class NftError extends Error {}

export function nftFailure(nft: string, err: NodeJS.ErrnoException | undefined, stderr: string): NftError {
  if (err?.code === 'ENOENT') return new NftError(`nftables mode: the ${nft} binary was not found (install the nftables package, e.g. apt-get install nftables)`);
  if (/Operation not permitted|Permission denied/.test(stderr)) {
    return new NftError(`nftables mode needs root (CAP_NET_ADMIN): nft: ${stderr.trim().split('\n')[0]}`);
  }
  return new NftError(`nft failed: ${(err?.message ?? stderr.trim()).slice(0, 2000)}`);
}

/** Run `nft` with a script on stdin (`-f -`) or other arguments; resolves with its stdout. */
export function runNft(nft: string, args: string[], script?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(nft, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', (e) => reject(nftFailure(nft, e, stderr)));
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(nftFailure(nft, undefined, stderr || `exit code ${code}`))));
    child.stdin.on('error', () => { /* reported through close */ });
    child.stdin.end(script ?? '');
  });
}

/** Why nftables mode cannot run here (nft missing, not root), or undefined when it can. */
export async function nftablesUnavailable(nft = 'nft'): Promise<string | undefined> {
  try {
    await runNft(nft, ['list', 'tables']);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** Delete a table if it exists (a leftover, or ours at stop). */
export async function deleteTable(nft: string, table: string): Promise<void> {
  // `add` first makes the `delete` succeed whether or not the table existed, in one transaction.
  await runNft(nft, ['-f', '-'], `add table ip ${table}\ndelete table ip ${table}\n`);
}
