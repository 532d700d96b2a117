// Prints the ticks of two instruments from a running tickpipe. Needs `npm install ws`.
import WebSocket from 'ws';

const url = process.env.TICKPIPE_URL ?? 'ws://127.0.0.1:3000/ticks';
const keys = ['NSE_EQ|INE002A01018', 'NSE_INDEX|Nifty Bank'];
const headers = process.env.API_TOKEN ? { Authorization: `Bearer ${process.env.API_TOKEN}` } : {};
const ws = new WebSocket(url, { headers });

ws.on('open', () => ws.send(JSON.stringify({ action: 'subscribe', keys, requestId: 'start' })));
ws.on('message', (data) => {
  const msg = JSON.parse(data);
  if (msg.type === 'tick') console.log(msg.snapshot ? 'snapshot' : 'live', msg.key, msg.ts, msg.ltp);
  else console.log(msg.type, JSON.stringify(msg)); // subscribed (accepted/refused), market_status, error
});
ws.on('close', (code, reason) => {
  console.log('closed', code, String(reason));
  process.exit(1);
});
