/**
 * A TCP gate between a client and a server (NATS here), for partitions a real server will not
 * make on demand: 'pass' forwards bytes both ways; 'down' resets every connection and refuses
 * new ones (a dead host); 'blackhole' keeps connections open but lets nothing through either way
 * (a partition the client only notices when its pings go unanswered).
 */
import { type Server, type Socket, connect, createServer } from 'node:net';
import { freePort } from './ports.js';

export type TcpGateMode = 'pass' | 'down' | 'blackhole';

export interface TcpGate {
  readonly port: number;
  /** nats://127.0.0.1:<port> */
  readonly url: string;
  set(mode: TcpGateMode): void;
  close(): Promise<void>;
}

export async function startTcpGate(targetPort: number): Promise<TcpGate> {
  let mode: TcpGateMode = 'pass';
  const pairs = new Set<[Socket, Socket]>();
  const server: Server = createServer((client) => {
    if (mode === 'down') {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const forward = (from: Socket, to: Socket) =>
      from.on('data', (d: Buffer) => {
        if (mode === 'pass') to.write(d);
      });
    forward(client, upstream);
    forward(upstream, client);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    set(m) {
      mode = m;
      if (m !== 'down') return;
      for (const [c, u] of pairs) {
        c.resetAndDestroy();
        u.destroy();
      }
    },
    async close() {
      for (const [c, u] of pairs) {
        c.destroy();
        u.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
