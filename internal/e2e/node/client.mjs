// A gpush client on the ws package: subscribe, log in, subscribe privately,
// then print every message as one JSON line. The Go test reads stdout.
//   GPUSH_URL      ws://host:port/ws
//   GPUSH_TOPIC    public channel
//   GPUSH_TOKEN    HS256 JWT whose sub is the user
//   GPUSH_PRIVATE  private channel
//   GPUSH_EXPECT   pushes to print before closing with 1000
import WebSocket from 'ws';

const env = process.env;
const expect = Number(env.GPUSH_EXPECT || '3');
const ws = new WebSocket(env.GPUSH_URL);
const requests = [
  { code: 1, topic: env.GPUSH_TOPIC, id: 1 },
  { code: 3, data: env.GPUSH_TOKEN, id: 2 },
  { code: 5, topic: env.GPUSH_PRIVATE, id: 3 },
];
let replies = 0;
let pushes = 0;

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

ws.on('open', () => {
  for (const r of requests) ws.send(JSON.stringify(r));
});

ws.on('message', (data, isBinary) => {
  const text = data.toString('utf8');
  out({ kind: isBinary ? 'binary' : 'text', text });
  const msg = JSON.parse(text);
  if (msg.id !== undefined) {
    replies++;
    if (replies === requests.length) out({ kind: 'ready' });
    return;
  }
  pushes++;
  if (pushes === expect) ws.close(1000, 'done');
});

ws.on('close', (code) => {
  out({ kind: 'close', code });
  process.exit(0);
});

ws.on('error', (err) => {
  out({ kind: 'error', text: String(err) });
  process.exit(1);
});

setTimeout(() => {
  out({ kind: 'error', text: 'timeout' });
  process.exit(2);
}, 20000);
