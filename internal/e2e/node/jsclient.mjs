// gpush's own JavaScript client (clients/js) under Node, on the ws package:
// subscribe to one channel (and a private one with a token), then print
// every state change, (re)subscribe reply and push as one JSON line. The Go
// test reads stdout, drives the server and the network, and checks.
//   GPUSH_URL      ws://host:port/ws
//   GPUSH_TOPIC    public channel
//   GPUSH_TOKEN    optional: HS256 JWT; GPUSH_PRIVATE: its private channel
//   GPUSH_SECRET, GPUSH_USER   optional instead of GPUSH_TOKEN: getToken signs a
//                  fresh JWT for the user on every connect that needs one
//   GPUSH_EXPECT   pushes to print before closing
//   GPUSH_PING, GPUSH_DEAD, GPUSH_MIN_DELAY, GPUSH_MAX_DELAY   client timings, ms
import { createHmac } from 'node:crypto';

import WebSocket from 'ws';

import { connect } from '../../../clients/js/gpush.js';

const env = process.env;
const expect = Number(env.GPUSH_EXPECT || '1');
const num = (name, def) => (env[name] ? Number(env[name]) : def);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

// jwt signs an HS256 token for user, valid for an hour.
function jwt(user, secret) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = b64({ alg: 'HS256', typ: 'JWT' }) + '.' + b64({ sub: user, exp: Math.floor(Date.now() / 1000) + 3600 });
  return head + '.' + createHmac('sha256', secret).update(head).digest('base64url');
}

const getToken = env.GPUSH_SECRET
  ? async () => {
      out({ kind: 'getToken' });
      return jwt(env.GPUSH_USER, env.GPUSH_SECRET);
    }
  : undefined;

const c = connect(env.GPUSH_URL, {
  WebSocket,
  token: env.GPUSH_TOKEN || undefined,
  getToken,
  pingInterval: num('GPUSH_PING', 20000),
  deadAfter: num('GPUSH_DEAD', 45000),
  minDelay: num('GPUSH_MIN_DELAY', 500),
  maxDelay: num('GPUSH_MAX_DELAY', 20000),
});

let pushes = 0;
const onPush = (p) => {
  out({ kind: 'push', topic: p.topic, private: p.private, offset: p.offset, text: p.text() });
  if (++pushes === expect) c.close();
};

c.on('state', (e) => {
  out({ kind: 'state', ...e });
  if (e.state === 'closed') process.exit(e.code === 1000 ? 0 : 3);
});
c.on('subscribed', (e) => out({ kind: 'subscribed', ...e }));
c.on('error', (e) => out({ kind: 'error', ...e }));
c.on('resync', (e) => out({ kind: 'resync', ...e }));
c.on('broadcast', onPush);

const subs = [c.subscribe(env.GPUSH_TOPIC, onPush)];
if (env.GPUSH_PRIVATE) subs.push(c.subscribePrivate(env.GPUSH_PRIVATE, onPush));
Promise.all(subs).then(
  () => out({ kind: 'ready' }),
  (err) => {
    out({ kind: 'error', op: 'ready', message: String(err) });
    process.exit(1);
  },
);

setTimeout(() => {
  out({ kind: 'error', op: 'timeout', message: `${pushes} of ${expect} pushes` });
  process.exit(2);
}, num('GPUSH_TIMEOUT', 60000));
