// The client's state machine against a fake socket and a manual clock: no
// network, no real time.
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';

import { connect } from '../gpush.js';
import { Clock, FakeSocket, tick } from './fakes.mjs';

let clock;
beforeEach(() => {
  FakeSocket.all = [];
  clock = new Clock();
});

/** A client on the fakes; random 0.5 puts every delay mid-range. */
function client(opts = {}) {
  const c = connect('ws://gpush.test/ws', { WebSocket: FakeSocket, timers: clock, random: () => 0.5, ...opts });
  const log = { states: [], subscribed: [], errors: [], pushes: [] };
  c.on('state', (e) => log.states.push(e));
  c.on('subscribed', (e) => log.subscribed.push(e));
  c.on('error', (e) => log.errors.push(e));
  return { c, log };
}

const push = (topic, offset, data = 'eA==', code = 7) => ({ code, topic, data, offset });

test('connects, subscribes, delivers pushes in order once, reports the position', async () => {
  const { c, log } = client();
  assert.equal(c.state, 'connecting');
  const ws = FakeSocket.last();
  const got = [];
  const p = c.subscribe('news', (m) => got.push(m.offset));
  assert.equal(ws.sent.length, 0, 'nothing is sent before the socket opens');
  ws.open();
  assert.equal(c.state, 'open');
  assert.deepEqual(ws.requests(), [{ code: 1, topic: 'news', id: 1 }], 'a first subscribe carries no since');
  ws.answerAll(() => ({ offset: 5, epoch: 'E1' }));
  assert.deepEqual(await p, { topic: 'news', private: false, offset: 5, epoch: 'E1' }, 'no recovered on a first subscribe');
  for (const off of [6, 7, 7, 5, 8]) ws.reply(push('news', off));
  assert.deepEqual(got, [6, 7, 8], 'repeats and old offsets are dropped');
  assert.deepEqual(c.position('news'), { offset: 8, epoch: 'E1' });
  assert.deepEqual(log.states.map((s) => s.state), ['open']);
});

test('reconnect: waits the backoff, resubscribes with since, replay fills the gap once', async () => {
  const { c, log } = client();
  let ws = FakeSocket.last();
  const got = [];
  c.subscribe('news', (m) => got.push(m.offset));
  ws.open();
  ws.answerAll(() => ({ offset: 2, epoch: 'E1' }));
  ws.reply(push('news', 3));
  ws.end(1006);
  assert.equal(c.state, 'waiting');
  const waiting = log.states.at(-1);
  assert.equal(waiting.code, 1006);
  assert.equal(waiting.delay, 750, 'attempt 0, random 0.5: halfway between 500 and 1000');
  clock.advance(749);
  assert.equal(FakeSocket.all.length, 1, 'no attempt before the delay');
  clock.advance(1);
  assert.equal(FakeSocket.all.length, 2, 'a new socket once the delay passed');
  ws = FakeSocket.last();
  ws.open();
  assert.deepEqual(ws.requests(), [{ code: 1, topic: 'news', since: { offset: 3, epoch: 'E1' }, id: 2 }]);
  ws.answerAll(() => ({ offset: 6, epoch: 'E1', recovered: true }));
  for (const off of [4, 5, 6, 7]) ws.reply(push('news', off));
  assert.deepEqual(got, [3, 4, 5, 6, 7]);
  assert.deepEqual(log.subscribed.at(-1), { topic: 'news', private: false, offset: 3, epoch: 'E1', recovered: true });
});

test('reconnect into a new epoch: recovered false, offsets restart from the reply', () => {
  const { c, log } = client();
  let ws = FakeSocket.last();
  const got = [];
  c.subscribe('news', (m) => got.push(m.offset));
  ws.open();
  ws.answerAll(() => ({ offset: 40, epoch: 'E1' }));
  ws.end(1001, 'going away');
  clock.advance(1000);
  ws = FakeSocket.last();
  ws.open();
  ws.answerAll(() => ({ offset: 0, epoch: 'E2', recovered: false }));
  ws.reply(push('news', 1));
  assert.deepEqual(got, [1], 'offset 1 of the new epoch is not mistaken for a repeat');
  assert.equal(log.subscribed.at(-1).recovered, false);
  assert.deepEqual(c.position('news'), { offset: 1, epoch: 'E2' });
});

test('history off: a resubscribe without a position reports recovered false', () => {
  const { c, log } = client();
  let ws = FakeSocket.last();
  c.subscribe('news', () => {});
  ws.open();
  ws.answerAll();
  assert.equal(log.subscribed[0].recovered, undefined);
  ws.end(1006);
  clock.advance(1000);
  ws = FakeSocket.last();
  ws.open();
  assert.equal(ws.requests()[0].since, undefined, 'no since without an epoch');
  ws.answerAll();
  assert.equal(log.subscribed[1].recovered, false, 'pushes may have been missed: the application is told');
});

test('backoff grows per failed attempt, is capped, and resets after a successful connect', () => {
  const { log } = client({ random: () => 1 });
  const delays = () => log.states.filter((s) => s.state === 'waiting').map((s) => s.delay);
  for (let i = 0; i < 7; i++) {
    FakeSocket.last().end(1006);
    clock.advance(20000);
  }
  assert.deepEqual(delays(), [1000, 2000, 4000, 8000, 16000, 20000, 20000]);
  const ws = FakeSocket.last();
  ws.open();
  ws.reply('pong'); // the server answered: a successful connect
  ws.end(1006);
  assert.equal(delays().at(-1), 1000, 'reset after a successful connect');
});

test('an open socket that never answers does not reset the backoff', () => {
  const { log } = client({ random: () => 1 });
  FakeSocket.last().end(1006);
  clock.advance(1000);
  FakeSocket.last().open();
  FakeSocket.last().end(1008, 'rate limit');
  const waits = log.states.filter((s) => s.state === 'waiting');
  assert.deepEqual(waits.map((s) => s.delay), [1000, 2000]);
  assert.equal(waits[1].code, 1008, '1008 (slow consumer, rate limit) reconnects');
});

test('close codes that refuse the client for good end it: no reconnect', async () => {
  for (const code of [1002, 1003, 1007, 1009]) {
    FakeSocket.all = [];
    const { c, log } = client();
    const ws = FakeSocket.last();
    const p = c.subscribe('news', () => {});
    ws.open();
    ws.end(code, 'refused');
    assert.equal(c.state, 'closed', `${code}`);
    assert.deepEqual(log.states.at(-1), { state: 'closed', previous: 'open', code, reason: 'refused' });
    await assert.rejects(p, /closed/, 'a pending subscribe is rejected');
    clock.advance(60000);
    assert.equal(FakeSocket.all.length, 1, `${code}: no new socket`);
  }
});

test('watchdog: pings on schedule; a connection silent for deadAfter is killed and replaced', () => {
  const { c, log } = client({ pingInterval: 1000, deadAfter: 2500 });
  const ws = FakeSocket.last();
  ws.open();
  clock.advance(1000);
  assert.deepEqual(ws.sent, ['ping']);
  ws.reply('pong');
  clock.advance(1000);
  ws.reply('pong');
  clock.advance(2400);
  assert.equal(c.state, 'open', 'alive: the last frame was 2400 ms ago');
  clock.advance(100);
  assert.equal(ws.terminated, true, 'dead: the socket is ended');
  assert.equal(c.state, 'waiting');
  assert.match(log.states.at(-1).reason, /no frame for 2500 ms/);
  ws.end(1006); // a late close event of the dead socket changes nothing
  assert.equal(log.states.filter((s) => s.state === 'waiting').length, 1);
});

test('watchdog: a connect that never opens is abandoned after deadAfter', () => {
  const { c } = client({ pingInterval: 1000, deadAfter: 3000 });
  clock.advance(3000);
  assert.equal(FakeSocket.all[0].terminated, true);
  assert.equal(c.state, 'waiting');
});

test('deadAfter must exceed pingInterval', () => {
  assert.throws(() => connect('ws://x/ws', { WebSocket: FakeSocket, timers: clock, pingInterval: 5000, deadAfter: 5000 }), RangeError);
});

test('getToken: a fresh credential before every connect; private channels follow the login', async () => {
  let n = 0;
  const { c } = client({ getToken: async () => `tok${++n}` });
  const got = [];
  let ws = FakeSocket.last();
  const p = c.subscribePrivate('inbox', (m) => got.push(m.offset));
  ws.open();
  await tick();
  assert.deepEqual(ws.requests(), [{ code: 3, data: 'tok1', id: 1 }], 'the private subscribe waits for the login reply');
  ws.answerAll();
  assert.deepEqual(ws.requests()[1], { code: 5, topic: 'inbox', id: 2 });
  ws.answerAll(() => ({ offset: 0, epoch: 'P1' }));
  await p;
  ws.reply(push('inbox', 1, 'eA==', 8));
  ws.reply(push('inbox', 2, 'eA==', 7)); // a public push of the same name is not this channel's
  ws.end(1006);
  clock.advance(1000);
  ws = FakeSocket.last();
  ws.open();
  await tick();
  assert.deepEqual(ws.requests(), [{ code: 3, data: 'tok2', id: 3 }], 'getToken was asked again');
  ws.answerAll();
  assert.deepEqual(ws.requests()[1], { code: 5, topic: 'inbox', since: { offset: 1, epoch: 'P1' }, id: 4 });
  assert.deepEqual(got, [1]);
});

test('a failing getToken counts as a failed attempt', async () => {
  const { c, log } = client({ getToken: () => Promise.reject(new Error('auth down')) });
  FakeSocket.last().open();
  await tick();
  assert.equal(c.state, 'waiting');
  assert.equal(FakeSocket.all[0].terminated, true);
  assert.deepEqual(log.errors.map((e) => e.op), ['getToken']);
});

test('credential expired notice: getToken, login again, private channels again with since', async () => {
  let n = 0;
  const { c } = client({ getToken: () => `tok${++n}` });
  const ws = FakeSocket.last();
  const logouts = [];
  c.on('logout', (e) => logouts.push(e.reason));
  c.subscribePrivate('inbox', () => {});
  ws.open();
  await tick();
  ws.answerAll();
  ws.answerAll(() => ({ offset: 4, epoch: 'P1' }));
  ws.reply({ code: 4, status: 401, message: 'credential expired' });
  await tick();
  assert.deepEqual(logouts, ['credential expired']);
  assert.deepEqual(ws.requests().slice(2), [{ code: 3, data: 'tok2', id: 3 }]);
  ws.answerAll();
  assert.deepEqual(ws.requests().slice(3), [{ code: 5, topic: 'inbox', since: { offset: 4, epoch: 'P1' }, id: 4 }]);
});

test('login and logout: a refused login restores the previous state; logout drops private channels', async () => {
  const { c } = client();
  const ws = FakeSocket.last();
  ws.open();
  await assert.rejects(c.subscribePrivate('inbox', () => {}), /needs login/);
  const bad = c.login('bad');
  ws.reply({ code: 3, id: 1, status: 401, message: 'credential refused' });
  await assert.rejects(bad, (e) => e.status === 401);
  await assert.rejects(c.subscribePrivate('inbox', () => {}), /needs login/, 'the refused login changed nothing');
  const ok = c.login('good');
  ws.answerAll(); // answers the refused one again harmlessly, then this one
  await ok;
  const sub = c.subscribePrivate('inbox', () => {});
  ws.answerAll(() => ({ offset: 0, epoch: 'P' }));
  await sub;
  const out = c.logout();
  assert.deepEqual(ws.requests().at(-1), { code: 4, id: 4 });
  ws.answerAll();
  await out;
  assert.equal(c.position('inbox', { private: true }), undefined, 'the private subscription is gone');
});

test('resync notice: resubscribe with since; pushes meanwhile are held and replayed once', () => {
  const { c } = client();
  const ws = FakeSocket.last();
  const got = [];
  const resyncs = [];
  c.on('resync', (e) => resyncs.push(e.message));
  c.subscribe('news', (m) => got.push(m.offset));
  ws.open();
  ws.answerAll(() => ({ offset: 10, epoch: 'E1' }));
  ws.reply({ code: 10, status: 503, message: 'broker link was down' });
  assert.deepEqual(resyncs, ['broker link was down']);
  assert.deepEqual(ws.requests().at(-1), { code: 1, topic: 'news', since: { offset: 10, epoch: 'E1' }, id: 2 });
  ws.reply(push('news', 11)); // live, before the reply
  assert.deepEqual(got, [], 'held until the reply says whether a replay follows');
  ws.answerAll(() => ({ offset: 12, epoch: 'E1', recovered: true }));
  for (const off of [11, 12, 13]) ws.reply(push('news', off));
  assert.deepEqual(got, [11, 12, 13], 'each once, in order');
});

test('resync into a new epoch: held pushes are delivered, then offsets restart', () => {
  const { c, log } = client();
  const ws = FakeSocket.last();
  const got = [];
  c.subscribe('news', (m) => got.push(m.offset));
  ws.open();
  ws.answerAll(() => ({ offset: 10, epoch: 'E1' }));
  ws.reply({ code: 10, status: 503, message: 'x' });
  ws.reply(push('news', 1)); // the new epoch's first push, before the reply
  ws.answerAll(() => ({ offset: 1, epoch: 'E2', recovered: false }));
  ws.reply(push('news', 2));
  assert.deepEqual(got, [1, 2]);
  assert.equal(log.subscribed.at(-1).recovered, false);
});

test('a gap in offsets asks the server again instead of skipping silently', () => {
  const { c } = client();
  const ws = FakeSocket.last();
  const got = [];
  c.subscribe('news', (m) => got.push(m.offset));
  ws.open();
  ws.answerAll(() => ({ offset: 1, epoch: 'E1' }));
  ws.reply(push('news', 2));
  ws.reply(push('news', 4));
  assert.deepEqual(ws.requests().at(-1), { code: 1, topic: 'news', since: { offset: 2, epoch: 'E1' }, id: 2 });
  ws.answerAll(() => ({ offset: 4, epoch: 'E1', recovered: true }));
  ws.reply(push('news', 3));
  ws.reply(push('news', 4));
  assert.deepEqual(got, [2, 3, 4]);
});

test('requests are paced under maxRate: a burst of resubscribes never trips the server limit', () => {
  const { c } = client({ maxRate: 10 });
  const ws = FakeSocket.last();
  for (let i = 0; i < 25; i++) c.subscribe(`t${i}`, () => {});
  ws.open();
  assert.equal(ws.sent.length, 10, 'a full bucket: 10 at once');
  clock.advance(500);
  assert.equal(ws.sent.length, 15, 'then 10 per second');
  clock.advance(1000);
  assert.equal(ws.sent.length, 25);
});

test('transient refusals are retried, permanent ones reject', async () => {
  const { c, log } = client();
  const ws = FakeSocket.last();
  ws.open();
  const busy = c.subscribe('busy', () => {});
  ws.reply({ code: 1, id: 1, topic: 'busy', status: 503, message: 'broker unavailable' });
  clock.advance(1000);
  assert.deepEqual(ws.requests().at(-1), { code: 1, topic: 'busy', id: 2 }, 'retried after a backoff');
  ws.reply({ code: 1, id: 2, topic: 'busy', status: 0 });
  await busy;
  const bad = c.subscribe('bad topic', () => {});
  ws.reply({ code: 1, id: 3, topic: 'bad topic', status: 400, message: 'invalid topic' });
  await assert.rejects(bad, (e) => e.status === 400);
  assert.deepEqual(log.errors.map((e) => [e.op, e.status]), [['subscribe', 503], ['subscribe', 400]]);
});

test('unsubscribe: no more pushes; close: closed for good with 1000', async () => {
  const { c, log } = client();
  const ws = FakeSocket.last();
  const got = [];
  const broadcasts = [];
  c.on('broadcast', (p) => broadcasts.push(p.text()));
  c.subscribe('news', (m) => got.push(m.text()));
  ws.open();
  ws.answerAll(() => ({ offset: 0, epoch: 'E' }));
  ws.reply(push('news', 1, btoa('héllo'.normalize()) && Buffer.from('héllo').toString('base64')));
  const un = c.unsubscribe('news');
  ws.answerAll();
  await un;
  ws.reply(push('news', 2));
  ws.reply({ code: 9, data: Buffer.from('all').toString('base64') });
  assert.deepEqual(got, ['héllo']);
  assert.deepEqual(broadcasts, ['all']);
  c.close();
  assert.deepEqual(ws.closedWith, { code: 1000, reason: 'client closed' });
  assert.equal(c.state, 'closed');
  assert.equal(log.states.at(-1).code, 1000);
  clock.advance(60000);
  assert.equal(FakeSocket.all.length, 1, 'no reconnect after close()');
});

test('a saved position passed as since is recovered from on the first subscribe', async () => {
  const { c } = client();
  const ws = FakeSocket.last();
  const got = [];
  const p = c.subscribe('news', (m) => got.push(m.offset), { since: { offset: 7, epoch: 'E1' } });
  ws.open();
  assert.deepEqual(ws.requests(), [{ code: 1, topic: 'news', since: { offset: 7, epoch: 'E1' }, id: 1 }]);
  ws.answerAll(() => ({ offset: 9, epoch: 'E1', recovered: true }));
  assert.equal((await p).recovered, true);
  ws.reply(push('news', 8));
  ws.reply(push('news', 9));
  assert.deepEqual(got, [8, 9]);
});

test('credential expired without getToken: logged out; private channels resume after login()', async () => {
  const { c } = client({ token: 'tok1' });
  const ws = FakeSocket.last();
  const logouts = [];
  c.on('logout', (e) => logouts.push(e.reason));
  c.subscribePrivate('inbox', () => {});
  ws.open();
  ws.answerAll();
  ws.answerAll(() => ({ offset: 2, epoch: 'P1' }));
  ws.reply({ code: 4, status: 401, message: 'credential expired' });
  await tick();
  assert.deepEqual(logouts, ['credential expired']);
  assert.equal(ws.requests().length, 2, 'nothing sent: no way to get a credential');
  const again = c.login('tok2');
  assert.deepEqual(ws.requests()[2], { code: 3, data: 'tok2', id: 3 });
  ws.answerAll();
  await again;
  assert.deepEqual(ws.requests()[3], { code: 5, topic: 'inbox', since: { offset: 2, epoch: 'P1' }, id: 4 });
});
