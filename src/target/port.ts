import { connect, createServer } from 'node:net';

/** A free TCP port on the loopback interface. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Whether another process holds `port` on any interface: a listen on the wildcard address (IPv6 and
 * IPv4 at once where the system has IPv6) fails with EADDRINUSE when something listens on the port,
 * on any address. Other failures (a privileged port, no IPv4 nor IPv6) say nothing about it: false.
 */
export async function portInUse(port: number): Promise<boolean> {
  for (const host of ['::', '0.0.0.0']) {
    const code = await tryListen(port, host);
    if (code === undefined) return false;
    if (code === 'EADDRINUSE') return true;
    // No IPv6 on this machine: the IPv4 wildcard alone.
    if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') return false;
  }
  return false;
}

/** Listens on `host:port` and closes again at once; the error code when the listen failed. */
function tryListen(port: number, host: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    server.listen({ port, host }, () => server.close(() => resolve(undefined)));
  });
}

/** Whether something accepts TCP connections at `host:port` (within `timeoutMs`). */
export function acceptsConnections(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (accepted: boolean) => {
      socket.destroy();
      resolve(accepted);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
