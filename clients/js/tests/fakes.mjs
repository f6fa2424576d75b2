// Test doubles for the client's unit tests: a clock that moves only when told
// and a WebSocket whose server side the test plays. No network.

/** A manual clock with the Timers shape the client takes. */
export class Clock {
  constructor() {
    this.t = 0;
    this.seq = 0;
    /** @type {Map<number, {at: number, fn: () => void}>} */
    this.timers = new Map();
    this.setTimeout = (fn, ms) => {
      const id = ++this.seq;
      this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
      return id;
    };
    this.clearTimeout = (id) => this.timers.delete(id);
    this.now = () => this.t;
  }

  /** Moves time forward by ms, running every timer due, in time order. */
  advance(ms) {
    const end = this.t + ms;
    for (;;) {
      let next = null;
      for (const [id, tm] of this.timers) if (tm.at <= end && (!next || tm.at < next[1].at)) next = [id, tm];
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
  }
}

/** A WebSocket the test drives: every instance is kept in FakeSocket.all. */
export class FakeSocket {
  /** @type {FakeSocket[]} */
  static all = [];

  constructor(url) {
    this.url = url;
    this.sent = [];
    this.closedWith = null;
    this.terminated = false;
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    FakeSocket.all.push(this);
  }

  static last() {
    return FakeSocket.all[FakeSocket.all.length - 1];
  }

  send(text) {
    this.sent.push(text);
  }

  close(code, reason) {
    this.closedWith = { code, reason };
  }

  terminate() {
    this.terminated = true;
  }

  // ---- the server's side ----

  open() {
    this.onopen?.({});
  }

  /** Sends obj (JSON) or a string as it is. */
  reply(obj) {
    this.onmessage?.({ data: typeof obj === 'string' ? obj : JSON.stringify(obj) });
  }

  /** The server ends the socket. */
  end(code, reason = '') {
    this.onclose?.({ code, reason });
  }

  /** The JSON requests sent, pings left out. */
  requests() {
    return this.sent.filter((s) => s !== 'ping').map((s) => JSON.parse(s));
  }

  /** Answers every request not yet answered with status 0 (extra fields per code). */
  answerAll(extra = () => ({})) {
    this.answered ??= 0;
    const reqs = this.requests();
    for (; this.answered < reqs.length; this.answered++) {
      const r = reqs[this.answered];
      this.reply({ code: r.code, id: r.id, topic: r.topic, status: 0, ...extra(r) });
    }
  }
}

/** Lets pending promise callbacks run. */
export const tick = () => new Promise((r) => setImmediate(r));
