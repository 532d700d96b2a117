// Reads tickpipe's ticks from NATS JetStream, on any machine that reaches the NATS server.
// Needs `npm install @nats-io/transport-node @nats-io/jetstream`.
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

const nc = await connect({ servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222' });
// An ordered consumer keeps no state on the server. DeliverPolicy.All replays the stream's
// window (NATS_MAX_AGE_S) first; New starts with the next tick. Narrow the subjects with
// wildcards, e.g. 'tickpipe.tick.NSE_INDEX.>' or 'tickpipe.tick.*.Nifty~20Bank'.
const consumer = await jetstream(nc).consumers.get('TICKPIPE', {
  filter_subjects: 'tickpipe.>',
  deliver_policy: DeliverPolicy.New,
});
for await (const m of await consumer.consume()) {
  const msg = m.json(); // the same JSON as a /ticks message
  if (msg.type === 'tick') console.log('tick', msg.key, msg.ts, msg.ltp, m.subject);
  else console.log(msg.type, JSON.stringify(msg)); // market_status
}
