/**
 * A JetStream consumer for tests, written the way a strategy on another machine would read
 * ticks: the official client, an ordered consumer on the stream, every message kept with its
 * subject, Nats-Msg-Id and JSON payload (and when it arrived, for latency).
 */
import { jetstream } from '@nats-io/jetstream';
import { type NatsConnection, connect } from '@nats-io/transport-node';

export interface ReceivedMessage {
  subject: string;
  msgId: string | undefined;
  payload: Record<string, unknown>;
  seq: number;
  /** performance.timeOrigin + performance.now() when it arrived. */
  at: number;
}

export interface StreamReader {
  readonly messages: ReceivedMessage[];
  close(): Promise<void>;
}

export async function readStream(url: string, stream: string, filter = 'tickpipe.>'): Promise<StreamReader> {
  const nc: NatsConnection = await connect({ servers: url });
  const consumer = await jetstream(nc).consumers.get(stream, { filter_subjects: filter });
  const messages: ReceivedMessage[] = [];
  const iter = await consumer.consume();
  const done = (async () => {
    for await (const m of iter) {
      messages.push({
        subject: m.subject,
        msgId: m.headers?.get('Nats-Msg-Id'),
        payload: m.json<Record<string, unknown>>(),
        seq: m.seq,
        at: performance.timeOrigin + performance.now(),
      });
    }
  })();
  return {
    messages,
    async close() {
      await iter.close();
      await done;
      await nc.close();
    },
  };
}

/** The stream's stored message count (what a new consumer would get). */
export async function streamInfo(url: string, stream: string): Promise<{ messages: number; subjects: string[]; maxAgeS: number }> {
  const nc = await connect({ servers: url });
  try {
    const { jetstreamManager } = await import('@nats-io/jetstream');
    const info = await (await jetstreamManager(nc)).streams.info(stream);
    return { messages: info.state.messages, subjects: info.config.subjects, maxAgeS: info.config.max_age / 1e9 };
  } finally {
    await nc.close();
  }
}
