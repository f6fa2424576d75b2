// The demo page's script: wires the form to a gpush client. window.demo
// exposes what the page shows (state, pushes, events), for people poking
// at it in the console and for the headless browser test.
import { connect } from './gpush.js';

const $ = (id) => document.getElementById(id);

const demo = {
  client: null,
  state: 'closed',
  /** @type {{topic: string, private: boolean, offset: number|undefined, text: string}[]} */
  pushes: [],
  /** @type {any[]} */
  events: [],
  /** what the page subscribed to: key -> {topic, private, event} */
  subs: new Map(),
};
window.demo = demo;

function log(kind, e) {
  demo.events.push({ kind, ...e });
  const line = `${new Date().toISOString().slice(11, 23)} ${kind} ${JSON.stringify(e)}\n`;
  const pre = $('events');
  pre.textContent += line;
  pre.scrollTop = pre.scrollHeight;
}

function showState(e) {
  demo.state = e.state;
  $('state').textContent = e.state;
  $('state').className = e.state;
  const bits = [];
  if (e.code !== undefined) bits.push(`last close ${e.code}${e.reason ? ' ' + e.reason : ''}`);
  if (e.delay !== undefined) bits.push(`next attempt in ${(e.delay / 1000).toFixed(1)} s`);
  $('detail').textContent = bits.join(', ');
  log('state', e);
}

function cell(row, text) {
  const td = document.createElement('td');
  td.textContent = text;
  row.appendChild(td);
  return td;
}

function showSubs() {
  const body = $('subs');
  body.replaceChildren();
  for (const [key, s] of demo.subs) {
    const row = document.createElement('tr');
    row.dataset.key = key;
    const pos = demo.client?.position(s.topic, { private: s.private });
    cell(row, (s.private ? 'private ' : '') + s.topic);
    cell(row, pos?.epoch ?? s.event?.epoch ?? '-');
    cell(row, String(pos?.offset ?? s.event?.offset ?? '-'));
    cell(row, s.event ? `recovered: ${s.event.recovered ?? '(first)'}` : 'waiting for the reply');
    const btn = document.createElement('button');
    btn.textContent = 'Unsubscribe';
    btn.onclick = () => unsubscribe(key);
    cell(row, '').appendChild(btn);
    body.appendChild(row);
  }
}

function onPush(p) {
  const text = p.text();
  demo.pushes.push({ topic: p.topic, private: p.private, offset: p.offset, text });
  const row = document.createElement('tr');
  cell(row, String(demo.pushes.length));
  cell(row, p.code === 9 ? '(everyone)' : (p.private ? 'private ' : '') + p.topic);
  cell(row, p.offset === undefined ? '-' : String(p.offset));
  cell(row, text);
  $('pushes').prepend(row);
  showSubs();
}

function subscribe(topic, priv) {
  const key = (priv ? 'p:' : 'c:') + topic;
  if (!demo.subs.has(key)) demo.subs.set(key, { topic, private: priv, event: null });
  showSubs();
  const c = demo.client;
  const op = priv ? c.subscribePrivate(topic, onPush) : c.subscribe(topic, onPush);
  op.catch((err) => {
    log('refused', { topic, message: String(err.message) });
    demo.subs.delete(key);
    showSubs();
  });
}

function unsubscribe(key) {
  const s = demo.subs.get(key);
  demo.subs.delete(key);
  demo.client?.unsubscribe(s.topic, { private: s.private }).catch(() => {});
  showSubs();
}

function start() {
  demo.client?.close();
  const token = $('token').value.trim();
  const c = connect($('url').value.trim(), token ? { token } : {});
  demo.client = c;
  c.on('state', showState);
  c.on('subscribed', (e) => {
    const s = demo.subs.get((e.private ? 'p:' : 'c:') + e.topic);
    if (s) s.event = e;
    log('subscribed', e);
    showSubs();
  });
  c.on('error', (e) => log('error', e));
  c.on('resync', (e) => log('resync', e));
  c.on('login', () => { $('who').textContent = 'logged in'; log('login', {}); });
  c.on('logout', (e) => { $('who').textContent = 'not logged in'; log('logout', e); });
  c.on('broadcast', onPush);
  for (const s of demo.subs.values()) {
    if (!s.private || token) subscribe(s.topic, s.private);
  }
  showState({ state: c.state, previous: 'closed' });
}

async function push() {
  const b = new TextEncoder().encode($('pushData').value);
  const body = { topic: $('pushTopic').value.trim(), uid: $('pushUID').value.trim(), data: btoa(String.fromCharCode(...b)) };
  const headers = { 'Content-Type': 'application/json' };
  const key = $('apiKey').value.trim();
  if (key) headers.Authorization = 'Bearer ' + key;
  const resp = await fetch('/v1/pushData', { method: 'POST', headers, body: JSON.stringify(body) });
  $('pushResult').textContent = `${resp.status} ${(await resp.text()).slice(0, 200)}`;
}

async function main() {
  let wsPort = '8989';
  try {
    wsPort = (await (await fetch('config.json')).json()).wsPort;
  } catch {}
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  $('url').value = `${scheme}://${location.hostname}:${wsPort}/ws`;
  $('connect').onclick = start;
  $('disconnect').onclick = () => demo.client?.close();
  $('login').onclick = () => {
    demo.client.login($('token').value.trim()).catch((err) => log('refused', { op: 'login', message: err.message }));
  };
  $('logout').onclick = () => {
    for (const [key, s] of demo.subs) if (s.private) demo.subs.delete(key);
    demo.client.logout().catch(() => {});
    showSubs();
  };
  $('subscribe').onclick = () => subscribe($('topic').value.trim(), false);
  $('subscribePrivate').onclick = () => subscribe($('topic').value.trim(), true);
  $('push').onclick = () => push().catch((err) => { $('pushResult').textContent = String(err); });
  start();
}

main();
