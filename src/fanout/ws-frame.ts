/**
 * A server-to-client websocket text frame (RFC 6455 §5.2: FIN, opcode 1, no mask), built once
 * per update so that every client gets the same bytes written straight to its TCP socket. This
 * is what `ws.send` builds for each call; building it once instead of once per client is the
 * fan-out's main saving (test/bench/fanout.bench.ts). Valid only without permessage-deflate,
 * which the /ticks server does not negotiate.
 */
export interface TextFrame {
  /** Header and payload: what goes on the wire. */
  readonly wire: Buffer;
  /** The payload alone (a view into `wire`), for the paths that go through `ws.send`. */
  readonly payload: Buffer;
}

export function textFrame(json: string): TextFrame {
  const len = Buffer.byteLength(json);
  const header = len < 126 ? 2 : len < 65_536 ? 4 : 10;
  const wire = Buffer.allocUnsafe(header + len);
  wire[0] = 0x81;
  if (header === 2) wire[1] = len;
  else if (header === 4) {
    wire[1] = 126;
    wire.writeUInt16BE(len, 2);
  } else {
    wire[1] = 127;
    wire.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    wire.writeUInt32BE(len >>> 0, 6);
  }
  wire.write(json, header, 'utf8');
  return { wire, payload: wire.subarray(header) };
}
