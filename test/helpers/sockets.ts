// Reading from plain TCP sockets in the proxy tests.
import type net from 'node:net';

/** Everything a socket receives until its FIN (rejects on an error such as a reset). */
export function readAll(s: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  return new Promise((resolve, reject) => {
    s.once('end', () => resolve(Buffer.concat(chunks)));
    s.once('error', reject);
  });
}

/** The next `n` bytes (at least: a chunk may carry more). */
export function readBytes(s: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const onData = (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got >= n) {
        s.off('data', onData);
        s.off('error', reject);
        resolve(Buffer.concat(chunks));
      }
    };
    s.on('data', onData);
    s.once('error', reject);
  });
}
