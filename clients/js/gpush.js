// @ts-check
/**
 * The gpush JavaScript client: a plain ES module with no dependencies, for
 * browsers and Node >= 20. It speaks gpush wire protocol v2
 * (docs/protocol.md) and never loses a push silently: it reconnects with
 * capped exponential backoff and full jitter, resubscribes every channel with
 * `since` (the last offset and epoch it saw), drops duplicates by offset, and
 * reports `recovered: false` whenever the server could not replay what was
 * missed. docs/client.md is the guide.
 *
 *   import { connect } from './gpush.js';
 *   const c = connect('ws://127.0.0.1:8989/ws', { getToken: () => fetchJWT() });
 *   c.on('subscribed', (e) => { if (e.recovered === false) resync(e.topic); });
 *   await c.subscribe('news', (p) => console.log(p.offset, p.text()));
 *
 * @module gpush
 */

/** Close codes after which the client does not reconnect: the server refused
 * what this client sends, and would refuse it again (docs/client.md). */
export const STOP_CODES = Object.freeze([1002, 1003, 1007, 1009]);

/** Defaults of {@link ConnectOptions}, in milliseconds and requests per second. */
export const DEFAULTS = Object.freeze({
  minDelay: 500,
  maxDelay: 20000,
  pingInterval: 20000,
  deadAfter: 45000,
  maxRate: 50,
});

/**
 * @typedef {'connecting'|'open'|'waiting'|'closed'} State
 * connecting: a socket is opening; open: it is open (requests flow);
 * waiting: the backoff delay before the next attempt; closed: for good.
 */

/**
 * @typedef {object} Timers  The clock the client runs on (tests pass a fake one).
 * @property {(fn: () => void, ms: number) => any} setTimeout
 * @property {(handle: any) => void} clearTimeout
 * @property {() => number} now  milliseconds
 */

/**
 * @typedef {object} ConnectOptions
 * @property {string} [token]  credential to log in with (a JWT for the shipped check)
 * @property {() => (string|null|undefined|Promise<string|null|undefined>)} [getToken]
 *   asked for a fresh credential before every connect that needs a login
 *   (and after the server's credential-expired notice); wins over token on reconnects
 * @property {any} [WebSocket]  WebSocket constructor (Node 20: `import WebSocket from 'ws'`);
 *   default globalThis.WebSocket
 * @property {number} [minDelay]  backoff floor, ms (500)
 * @property {number} [maxDelay]  backoff cap, ms (20000)
 * @property {number} [pingInterval]  text `ping` every this many ms (20000)
 * @property {number} [deadAfter]  no frame from the server for this long: the connection is dead (45000); > pingInterval
 * @property {number} [maxRate]  requests per second this client sends at most, pings included (50;
 *   half the server's default limit, so a burst of resubscribes never trips it)
 * @property {() => number} [random]  uniform [0, 1) for the jitter (Math.random)
 * @property {Timers} [timers]  the clock (globalThis timers and Date.now)
 */

/**
 * @typedef {Required<Pick<ConnectOptions, 'minDelay'|'maxDelay'|'pingInterval'|'deadAfter'|'maxRate'>> & ConnectOptions} Settings
 * ConnectOptions with the defaults filled in.
 */

/**
 * @typedef {object} Position  where a client is in a channel's sequence (history on)
 * @property {number} offset
 * @property {string} epoch
 */

/**
 * @typedef {object} SubscribedEvent  a successful (re)subscribe reply
 * @property {string} topic
 * @property {boolean} private
 * @property {number} [offset]  the channel's last offset at the reply (history on)
 * @property {string} [epoch]   the channel's epoch (history on)
 * @property {boolean} [recovered]  absent on a first subscribe without since; true: every missed
 *   push is replayed right after; false: pushes may have been missed (resync from your back end)
 */

/**
 * @typedef {object} StateEvent
 * @property {State} state
 * @property {State} previous
 * @property {number} [code]    close code of the socket that ended
 * @property {string} [reason]  its close reason, or why the client ended it
 * @property {number} [delay]   state waiting: ms until the next attempt
 */

/**
 * @typedef {object} ErrorEvent
 * @property {string} op  what failed: subscribe, unsubscribe, login, logout, getToken, connect, message, callback
 * @property {string} [topic]
 * @property {number} [status]  the reply's status
 * @property {string} message
 */

/**
 * @typedef {object} EventMap
 * @property {StateEvent} state
 * @property {SubscribedEvent} subscribed
 * @property {ErrorEvent} error
 * @property {Push} broadcast  a push to every connection (code 9; never recovered)
 * @property {{}} login  a login was accepted (also on every reconnect)
 * @property {{reason: string}} logout  logged out: by logout(), or the server's credential-expired notice
 * @property {{message: string}} resync  the server's resync notice (code 10); the client resubscribes
 */

/** One push. data is base64, as on the wire. */
export class Push {
  /**
   * @param {number} code  7 public, 8 private, 9 to everyone
   * @param {string} topic
   * @param {string} data  base64
   * @param {number} [offset]
   */
  constructor(code, topic, data, offset) {
    this.code = code;
    this.topic = topic;
    this.private = code === 8;
    this.data = data;
    this.offset = offset;
  }

  /** @returns {Uint8Array} the pushed bytes */
  bytes() {
    const bin = atob(this.data);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  /** @returns {string} the pushed bytes as UTF-8 text */
  text() {
    return new TextDecoder().decode(this.bytes());
  }
}

/**
 * The reconnect delay before attempt n (0 for the first retry): full jitter
 * between minDelay and min(maxDelay, minDelay * 2^(n+1)).
 * @param {number} n
 * @param {{minDelay: number, maxDelay: number}} o
 * @param {() => number} random
 * @returns {number} ms
 */
export function backoff(n, o, random) {
  const ceiling = Math.min(o.maxDelay, o.minDelay * 2 ** Math.min(n + 1, 30));
  return o.minDelay + random() * Math.max(0, ceiling - o.minDelay);
}

/**
 * Whether a socket that ended with code should be retried.
 * @param {number} code
 */
export function shouldReconnect(code) {
  return !STOP_CODES.includes(code);
}

/** Statuses a subscribe is retried after, with backoff: over a limit, server failure, broker down. */
const RETRY = [429, 500, 503];
const MAX_RETRIES = 5; // for 429 and 500; 503 (broker down) is retried for as long as it lasts

/** One desired subscription. */
class Sub {
  /**
   * @param {string} topic
   * @param {boolean} priv
   * @param {(p: Push) => void} onPush
   * @param {Position} [since]
   */
  constructor(topic, priv, onPush, since) {
    this.topic = topic;
    this.private = priv;
    this.onPush = onPush;
    /** @type {number|undefined} */ this.offset = since?.offset;
    /** @type {string|undefined} */ this.epoch = since?.epoch;
    this.active = false; // the server confirmed it on the current socket
    this.ever = false; // confirmed on some socket: the next subscribe is a resubscribe
    /** @type {Push[]|null} pushes held while a resubscribe on a live subscription is answered */
    this.hold = null;
    this.retries = 0;
    /** @type {any} */ this.retryTimer = null;
    /** @type {{resolve: (e: SubscribedEvent) => void, reject: (e: Error) => void}[]} */
    this.waiters = [];
  }

  get key() {
    return (this.private ? 'p:' : 'c:') + this.topic;
  }

  /** @returns {Position|undefined} */
  position() {
    return this.offset !== undefined && this.epoch !== undefined ? { offset: this.offset, epoch: this.epoch } : undefined;
  }
}

/**
 * A gpush connection that keeps itself connected. Make one with
 * {@link connect}.
 */
export class Client {
  // Per-socket state, reset for every socket by resetSocket.
  /** @type {Map<number, (m: any) => void>} replies awaited, by request id */ pending = new Map();
  /** @type {string[]} requests waiting for the rate limit */ queue = [];
  tokens = 0; // request-rate bucket
  refilled = 0; // when tokens was last refilled
  loggedIn = false; // the server accepted a login on this socket
  gotFrame = false; // the server sent a frame on this socket
  lastFrame = 0; // when the last frame arrived
  /** @type {any} */ pingTimer = null;
  /** @type {any} */ dogTimer = null;
  /** @type {any} */ drainTimer = null;
  /** @type {any} */ waitTimer = null;

  /**
   * @param {string} url  ws:// or wss:// URL of the server's /ws
   * @param {ConnectOptions} [options]
   */
  constructor(url, options = {}) {
    this.url = url;
    /** @type {Settings} */
    this.o = /** @type {any} */ ({ ...DEFAULTS });
    for (const [k, v] of Object.entries(options)) if (v !== undefined) /** @type {any} */ (this.o)[k] = v;
    if (!(this.o.deadAfter > this.o.pingInterval)) throw new RangeError('gpush: deadAfter must exceed pingInterval');
    this.WS = options.WebSocket ?? globalThis.WebSocket;
    if (typeof this.WS !== 'function') throw new TypeError('gpush: no WebSocket: pass options.WebSocket (Node 20: the ws package)');
    this.t = options.timers ?? { setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h), now: () => Date.now() };
    this.random = options.random ?? Math.random;
    /** @type {State} */ this._state = 'closed';
    /** @type {Map<string, Set<Function>>} */ this.handlers = new Map();
    /** @type {Map<string, Sub>} */ this.subs = new Map();
    this.token = options.token ?? null;
    this.wantLogin = Boolean(options.token || options.getToken);
    this.firstToken = true; // the first connect uses options.token when given
    /** @type {{resolve: () => void, reject: (e: Error) => void}[]} */ this.loginWaiters = [];
    this.attempt = 0;
    this.seq = 0;
    this.ended = false;
    this.ws = null;
    this.resetSocket();
  }

  /** Per-socket state, fresh for every socket. */
  resetSocket() {
    this.pending = new Map();
    this.queue = [];
    this.tokens = this.o.maxRate;
    this.refilled = this.t.now();
    this.loggedIn = false;
    this.gotFrame = false;
    this.lastFrame = this.t.now();
    for (const h of [this.pingTimer, this.dogTimer, this.drainTimer, this.waitTimer]) if (h) this.t.clearTimeout(h);
    this.pingTimer = this.dogTimer = this.drainTimer = this.waitTimer = null;
  }

  /** @returns {State} */
  get state() {
    return this._state;
  }

  /**
   * Listens for an event; returns a function that stops listening.
   * @template {keyof EventMap} K
   * @param {K} event
   * @param {(e: EventMap[K]) => void} fn
   * @returns {() => void}
   */
  on(event, fn) {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event)?.add(fn);
    return () => this.off(event, fn);
  }

  /**
   * @template {keyof EventMap} K
   * @param {K} event
   * @param {(e: EventMap[K]) => void} fn
   */
  off(event, fn) {
    this.handlers.get(event)?.delete(fn);
  }

  /**
   * @param {string} event
   * @param {any} e
   */
  emit(event, e) {
    for (const fn of this.handlers.get(event) ?? []) this.call(fn, e);
  }

  /** Runs an application callback; what it throws is rethrown outside the client.
   * @param {Function} fn
   * @param {any} arg */
  call(fn, arg) {
    try {
      fn(arg);
    } catch (err) {
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  /**
   * @param {State} state
   * @param {Partial<StateEvent>} [extra]
   */
  setState(state, extra = {}) {
    const previous = this._state;
    this._state = state;
    this.emit('state', { state, previous, ...extra });
  }

  /**
   * Subscribes to public channel topic. Resolves with the first reply;
   * rejects when the server refuses it for good (bad topic, too many).
   * @param {string} topic
   * @param {(p: Push) => void} onPush
   * @param {{since?: Position}} [opts]  since: a position saved earlier, to recover from
   * @returns {Promise<SubscribedEvent>}
   */
  subscribe(topic, onPush, opts = {}) {
    return this.want(new Sub(topic, false, onPush, opts.since));
  }

  /**
   * Subscribes to the logged-in user's private channel topic; sent after
   * every successful login.
   * @param {string} topic
   * @param {(p: Push) => void} onPush
   * @param {{since?: Position}} [opts]
   * @returns {Promise<SubscribedEvent>}
   */
  subscribePrivate(topic, onPush, opts = {}) {
    if (!this.wantLogin) return Promise.reject(new Error('gpush: subscribePrivate needs login() or a token first'));
    return this.want(new Sub(topic, true, onPush, opts.since));
  }

  /**
   * @param {Sub} sub
   * @returns {Promise<SubscribedEvent>}
   */
  want(sub) {
    if (this.ended) return Promise.reject(new Error('gpush: client closed'));
    const have = this.subs.get(sub.key);
    if (have) {
      have.onPush = sub.onPush;
      if (have.active) return Promise.resolve(this.event(have, undefined));
      sub = have;
    } else {
      this.subs.set(sub.key, sub);
      if (this.canSend(sub)) this.sendSub(sub);
    }
    return new Promise((resolve, reject) => sub.waiters.push({ resolve, reject }));
  }

  /** @param {Sub} sub */
  canSend(sub) {
    return this._state === 'open' && (!sub.private || this.loggedIn);
  }

  /**
   * Leaves public channel topic (private: the private channel).
   * @param {string} topic
   * @param {{private?: boolean}} [opts]
   * @returns {Promise<void>}
   */
  unsubscribe(topic, opts = {}) {
    const sub = this.subs.get((opts.private ? 'p:' : 'c:') + topic);
    if (!sub) return Promise.resolve();
    this.forget(sub, new Error('gpush: unsubscribed'));
    if (!this.canSend(sub)) return Promise.resolve();
    return this.request({ code: sub.private ? 6 : 2, topic }, 'unsubscribe');
  }

  /**
   * @param {string} topic
   * @returns {Promise<void>}
   */
  unsubscribePrivate(topic) {
    return this.unsubscribe(topic, { private: true });
  }

  /** Removes sub and settles its waiters.
   * @param {Sub} sub
   * @param {Error} err */
  forget(sub, err) {
    this.subs.delete(sub.key);
    if (sub.retryTimer) this.t.clearTimeout(sub.retryTimer);
    for (const w of sub.waiters.splice(0)) w.reject(err);
  }

  /**
   * The last position seen on a channel (history on), to save and pass as
   * since to a later subscribe (after a page reload, say).
   * @param {string} topic
   * @param {{private?: boolean}} [opts]
   * @returns {Position|undefined}
   */
  position(topic, opts = {}) {
    return this.subs.get((opts.private ? 'p:' : 'c:') + topic)?.position();
  }

  /**
   * Logs in with token (and on every reconnect: getToken, or this token).
   * Resolves when the server accepts it; a refused login changes nothing.
   * @param {string} token
   * @returns {Promise<void>}
   */
  login(token) {
    if (this.ended) return Promise.reject(new Error('gpush: client closed'));
    const before = { token: this.token, wantLogin: this.wantLogin };
    this.token = token;
    this.wantLogin = true;
    this.firstToken = true;
    /** @type {Promise<void>} */
    const p = new Promise((resolve, reject) => this.loginWaiters.push({ resolve: () => resolve(), reject }));
    if (this._state === 'open') this.sendLogin(token, before);
    return p;
  }

  /**
   * Logs out: leaves every private channel, here and on the server.
   * @returns {Promise<void>}
   */
  logout() {
    this.wantLogin = false;
    this.token = null;
    for (const sub of [...this.subs.values()]) if (sub.private) this.forget(sub, new Error('gpush: logged out'));
    for (const w of this.loginWaiters.splice(0)) w.reject(new Error('gpush: logged out'));
    const was = this.loggedIn;
    this.loggedIn = false;
    this.emit('logout', { reason: 'logout' });
    if (this._state !== 'open' || !was) return Promise.resolve();
    return this.request({ code: 4 }, 'logout');
  }

  /** Closes for good (code 1000); nothing reconnects. */
  close() {
    if (this.ended) return;
    this.ended = true;
    const ws = this.ws;
    this.detach();
    if (ws) this.call(() => ws.close(1000, 'client closed'), undefined);
    this.finish({ code: 1000, reason: 'client closed' });
  }

  /** Starts the first connection. */
  start() {
    this.open();
  }

  // ---- socket lifecycle ----

  open() {
    this.resetSocket();
    this.setState('connecting');
    let ws;
    try {
      ws = new this.WS(this.url);
    } catch (err) {
      this.emit('error', { op: 'connect', message: String(err) });
      this.retry(1006, 'cannot connect');
      return;
    }
    this.ws = ws;
    ws.onopen = () => ws === this.ws && this.opened();
    ws.onmessage = (/** @type {{data: any}} */ ev) => ws === this.ws && this.frame(ev.data);
    ws.onclose = (/** @type {{code: number, reason: string}} */ ev) => ws === this.ws && this.closed(ev.code, ev.reason);
    ws.onerror = () => {}; // a close event follows
    this.watch();
  }

  opened() {
    this.setState('open');
    this.schedulePing();
    for (const sub of this.subs.values()) if (!sub.private) this.sendSub(sub);
    if (this.wantLogin) this.relogin();
  }

  /** Asks for the credential this connect needs and logs in with it. */
  async relogin() {
    const ws = this.ws;
    let token = this.token;
    if (this.o.getToken && !(this.firstToken && token)) {
      try {
        token = (await this.o.getToken()) ?? null;
      } catch (err) {
        if (ws !== this.ws) return;
        this.emit('error', { op: 'getToken', message: String(err) });
        this.kill(1006, 'getToken failed');
        return;
      }
      if (ws !== this.ws || !this.wantLogin) return;
    }
    this.firstToken = false;
    if (!token) {
      this.emit('error', { op: 'getToken', message: 'no credential: private channels wait for login()' });
      return;
    }
    this.token = token;
    this.sendLogin(token, null);
  }

  /**
   * @param {string} token
   * @param {{token: string|null, wantLogin: boolean}|null} before  what a refusal restores (an app's login())
   */
  sendLogin(token, before) {
    this.send({ code: 3, data: token }, (m) => {
      if (m.status === 0) return this.loginDone();
      if (before && this.token === token) Object.assign(this, before);
      this.emit('error', { op: 'login', status: m.status, message: m.message ?? '' });
      const err = Object.assign(new Error(`gpush: login refused: ${m.status} ${m.message ?? ''}`), { status: m.status });
      for (const w of this.loginWaiters.splice(0)) w.reject(err);
    });
  }

  loginDone() {
    this.loggedIn = true;
    for (const w of this.loginWaiters.splice(0)) w.resolve();
    this.emit('login', {});
    for (const sub of this.subs.values()) if (sub.private) this.sendSub(sub);
  }

  /** The socket ended (server close, network, refused upgrade).
   * @param {number} code
   * @param {string} reason */
  closed(code, reason) {
    this.detach();
    if (this.ended) return;
    if (!shouldReconnect(code)) {
      this.ended = true;
      this.finish({ code, reason });
      return;
    }
    this.retry(code, reason);
  }

  /** Ends the current socket now (dead, or unusable) and reconnects.
   * @param {number} code
   * @param {string} reason */
  kill(code, reason) {
    const ws = this.ws;
    this.detach();
    if (ws) {
      if (typeof ws.terminate === 'function') this.call(() => ws.terminate(), undefined);
      else this.call(() => ws.close(4000, reason), undefined);
    }
    if (!this.ended) this.retry(code, reason);
  }

  /** Forgets the current socket: its handlers, timers and requests. */
  detach() {
    const ws = this.ws;
    if (ws) ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    this.ws = null;
    for (const sub of this.subs.values()) {
      sub.active = false;
      sub.hold = null;
      if (sub.retryTimer) this.t.clearTimeout(sub.retryTimer);
      sub.retryTimer = null;
    }
    this.resetSocket();
  }

  /** Waits the backoff delay, then connects again.
   * @param {number} code
   * @param {string} reason */
  retry(code, reason) {
    const delay = backoff(this.attempt++, this.o, this.random);
    this.setState('waiting', { code, reason, delay });
    this.waitTimer = this.t.setTimeout(() => {
      this.waitTimer = null;
      this.open();
    }, delay);
  }

  /** Ends for good: settles every waiter.
   * @param {{code: number, reason: string}} why */
  finish(why) {
    const err = new Error(`gpush: closed (${why.code} ${why.reason})`);
    for (const sub of this.subs.values()) for (const w of sub.waiters.splice(0)) w.reject(err);
    for (const w of this.loginWaiters.splice(0)) w.reject(err);
    this.setState('closed', why);
  }

  // ---- watchdog and pings ----

  watch() {
    this.dogTimer = this.t.setTimeout(() => {
      this.dogTimer = null;
      const idle = this.t.now() - this.lastFrame;
      if (idle >= this.o.deadAfter) this.kill(1006, `no frame for ${idle} ms`);
      else this.watch();
    }, this.o.deadAfter - (this.t.now() - this.lastFrame));
  }

  schedulePing() {
    this.pingTimer = this.t.setTimeout(() => {
      this.pingTimer = null;
      if (this.take()) this.ws?.send('ping');
      this.schedulePing();
    }, this.o.pingInterval);
  }

  // ---- requests ----

  /**
   * Sends a request; resolves with its reply when status is 0, else
   * rejects with an error carrying status.
   * @param {Record<string, any>} req
   * @param {string} op
   * @returns {Promise<any>}
   */
  request(req, op) {
    return new Promise((resolve, reject) => {
      this.send(req, (m) => {
        if (m.status === 0) return resolve(m);
        const err = Object.assign(new Error(`gpush: ${op} ${req.topic ?? ''} refused: ${m.status} ${m.message ?? ''}`), { status: m.status });
        this.emit('error', { op, topic: req.topic, status: m.status, message: m.message ?? '' });
        reject(err);
      });
    });
  }

  /**
   * @param {Record<string, any>} req
   * @param {(m: any) => void} onReply
   */
  send(req, onReply) {
    req.id = ++this.seq;
    this.pending.set(req.id, onReply);
    this.queue.push(JSON.stringify(req));
    this.drain();
  }

  /** Sends queued requests as the rate allows. */
  drain() {
    while (this.queue.length && this.take()) this.ws?.send(this.queue.shift());
    if (this.queue.length && !this.drainTimer) {
      const wait = Math.ceil((1000 * (1 - this.tokens)) / this.o.maxRate);
      this.drainTimer = this.t.setTimeout(() => {
        this.drainTimer = null;
        this.drain();
      }, wait);
    }
  }

  /** Takes one token of the request-rate bucket. */
  take() {
    const now = this.t.now();
    this.tokens = Math.min(this.o.maxRate, this.tokens + ((now - this.refilled) * this.o.maxRate) / 1000);
    this.refilled = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }

  /** Sends a (re)subscribe, with since when a position is known.
   * @param {Sub} sub */
  sendSub(sub) {
    const req = /** @type {Record<string, any>} */ ({ code: sub.private ? 5 : 1, topic: sub.topic });
    const since = sub.position();
    if (since) req.since = since;
    if (sub.active) sub.hold = [];
    this.send(req, (m) => this.subReply(sub, since, m));
  }

  /**
   * @param {Sub} sub
   * @param {Position|undefined} since
   * @param {any} m
   */
  subReply(sub, since, m) {
    if (this.subs.get(sub.key) !== sub) return; // unsubscribed meanwhile
    if (m.status !== 0) return this.subRefused(sub, m);
    const resub = sub.ever;
    sub.active = sub.ever = true;
    sub.retries = 0;
    const recovered = since ? m.recovered === true : resub ? false : undefined;
    const hold = sub.hold ?? [];
    sub.hold = null;
    if (!recovered) {
      for (const p of hold) this.call(sub.onPush, p); // they arrived: deliver them; offsets restart from the reply
      sub.offset = m.offset;
      sub.epoch = m.epoch;
    } // recovered: the replay that follows repeats every held push
    const e = this.event(sub, recovered);
    for (const w of sub.waiters.splice(0)) w.resolve(e);
    this.emit('subscribed', e);
  }

  /**
   * @param {Sub} sub
   * @param {boolean|undefined} recovered
   * @returns {SubscribedEvent}
   */
  event(sub, recovered) {
    /** @type {SubscribedEvent} */
    const e = { topic: sub.topic, private: sub.private, offset: sub.offset, epoch: sub.epoch };
    if (recovered !== undefined) e.recovered = recovered;
    return e;
  }

  /**
   * @param {Sub} sub
   * @param {any} m
   */
  subRefused(sub, m) {
    const held = sub.hold ?? [];
    sub.hold = null;
    for (const p of held) this.deliver(sub, p);
    const message = m.message ?? '';
    this.emit('error', { op: 'subscribe', topic: sub.topic, status: m.status, message });
    if (m.status === 401 && sub.private) return; // logged out meanwhile: sent again after the next login
    if (RETRY.includes(m.status) && (m.status === 503 || sub.retries < MAX_RETRIES)) {
      sub.retryTimer = this.t.setTimeout(() => {
        sub.retryTimer = null;
        if (this.subs.get(sub.key) === sub && this.canSend(sub)) this.sendSub(sub);
      }, backoff(sub.retries++, this.o, this.random));
      return;
    }
    this.forget(sub, Object.assign(new Error(`gpush: subscribe ${sub.topic} refused: ${m.status} ${message}`), { status: m.status }));
  }

  // ---- incoming frames ----

  /** @param {any} data */
  frame(data) {
    this.lastFrame = this.t.now();
    if (!this.gotFrame) {
      this.gotFrame = true;
      this.attempt = 0; // the server answered: a successful connect resets the backoff
    }
    if (typeof data !== 'string') {
      this.emit('error', { op: 'message', message: 'binary frame: the client needs push-format=json' });
      return;
    }
    if (data === 'pong') return;
    let m;
    try {
      m = JSON.parse(data);
    } catch {
      this.emit('error', { op: 'message', message: 'not JSON: ' + data.slice(0, 64) });
      return;
    }
    this.message(m);
  }

  /** @param {any} m */
  message(m) {
    if (m.id !== undefined) {
      const onReply = this.pending.get(m.id);
      this.pending.delete(m.id);
      onReply?.(m);
      return;
    }
    switch (m.code) {
      case 7:
      case 8:
        return this.push(m);
      case 9:
        return this.emit('broadcast', new Push(9, '', m.data));
      case 4:
        return this.expired(m);
      case 10:
        return this.resync(m);
    }
  }

  /** @param {any} m */
  push(m) {
    const sub = this.subs.get((m.code === 8 ? 'p:' : 'c:') + m.topic);
    if (!sub) return;
    const p = new Push(m.code, m.topic, m.data, m.offset);
    if (sub.hold) sub.hold.push(p);
    else this.deliver(sub, p);
  }

  /** Delivers p once, in order: a repeat is dropped, a gap asks the server again.
   * @param {Sub} sub
   * @param {Push} p */
  deliver(sub, p) {
    if (p.offset !== undefined && sub.offset !== undefined && sub.epoch !== undefined) {
      if (p.offset <= sub.offset) return;
      if (p.offset > sub.offset + 1) {
        this.sendSub(sub); // never a silent gap: recover, or be told recovered false
        sub.hold?.push(p);
        return;
      }
    }
    if (p.offset !== undefined) sub.offset = p.offset;
    this.call(sub.onPush, p);
  }

  /** The server's credential-expired notice: it logged this connection out.
   * @param {any} m */
  expired(m) {
    this.loggedIn = false;
    for (const sub of this.subs.values()) if (sub.private) sub.active = false;
    this.emit('logout', { reason: m.message ?? 'credential expired' });
    if (this.o.getToken && this.wantLogin) {
      this.firstToken = false;
      this.relogin();
    }
  }

  /** The server's resync notice: resubscribe everything with since.
   * @param {any} m */
  resync(m) {
    this.emit('resync', { message: m.message ?? '' });
    for (const sub of this.subs.values()) if (sub.active) this.sendSub(sub);
  }
}

/**
 * Connects to a gpush server and keeps connected until close().
 * @param {string} url  ws://host:port/ws
 * @param {ConnectOptions} [options]
 * @returns {Client}
 */
export function connect(url, options) {
  const c = new Client(url, options);
  c.start();
  return c;
}
