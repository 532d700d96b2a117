import { spawn } from 'node:child_process';
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
const p = spawn('nats-server', ['-js','-a','127.0.0.1','-p','14999','-sd','/tmp/nx'], {stdio:'ignore'});
await new Promise(r=>setTimeout(r,500));
const nc = await connect({servers:'nats://127.0.0.1:14999'});
const kv = await new Kvm(nc).create('tickpipe_leader', {ttl: 2000, history: 1});
const t0=Date.now();
let rev = await kv.create('g', 'A');
console.log('create', rev);
try { await kv.create('g','B'); } catch(e) { console.log('create2 fails', e.message, e.constructor.name, e.code); }
rev = await kv.update('g','A', rev); console.log('update', rev);
try { await kv.update('g','B', rev-1); } catch(e) { console.log('bad update', e.message, e.constructor.name, e.code, e.api_error); }
const w = await kv.watch({key:'g'});
(async()=>{for await (const e of w) console.log('watch', Date.now()-t0, e.operation, e.revision, e.value && new TextDecoder().decode(e.value));})();
for (let i=0;i<30;i++){ await new Promise(r=>setTimeout(r,100)); const e = await kv.get('g'); if(!e || e.operation!=='PUT'){console.log('gone at', Date.now()-t0, e?.operation); break;} }
rev = await kv.create('g','B'); console.log('create after expiry', rev);
await kv.delete('g', {previousSeq: rev}); console.log('deleted');
rev = await kv.create('g','C'); console.log('create after delete', rev);
try { await kv.delete('g', {previousSeq: rev-1}); } catch(e){ console.log('bad delete', e.message); }
await new Promise(r=>setTimeout(r,300));
await nc.close(); p.kill();
