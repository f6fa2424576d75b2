// Backoff and close-code rules, pure functions.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { backoff, shouldReconnect, DEFAULTS, STOP_CODES } from '../gpush.js';

const o = { minDelay: DEFAULTS.minDelay, maxDelay: DEFAULTS.maxDelay };

test('backoff: full jitter between the floor and a ceiling that doubles up to the cap', () => {
  const ceilings = [1000, 2000, 4000, 8000, 16000, 20000, 20000, 20000];
  ceilings.forEach((ceiling, n) => {
    assert.equal(backoff(n, o, () => 0), 500, `attempt ${n}: the floor is minDelay`);
    assert.equal(backoff(n, o, () => 1), ceiling, `attempt ${n}: the ceiling`);
    assert.equal(backoff(n, o, () => 0.5), 500 + (ceiling - 500) / 2, `attempt ${n}: uniform in between`);
  });
  assert.equal(backoff(1000, o, () => 1), 20000, 'a huge attempt count stays capped (no Infinity)');
});

test('backoff: random delays stay within bounds and spread', () => {
  const seen = new Set();
  for (let i = 0; i < 1000; i++) {
    const d = backoff(6, o, Math.random);
    assert.ok(d >= 500 && d <= 20000, `delay ${d} within [500, 20000]`);
    seen.add(Math.floor(d / 1000));
  }
  assert.ok(seen.size > 15, `1000 draws spread over the range (${seen.size} one-second buckets)`);
});

test('backoff: custom bounds', () => {
  assert.equal(backoff(0, { minDelay: 100, maxDelay: 150 }, () => 1), 150, 'the cap wins over the doubling');
  assert.equal(backoff(3, { minDelay: 100, maxDelay: 10000 }, () => 1), 1600);
});

test('close codes: refused for good stop, everything else reconnects', () => {
  assert.deepEqual([...STOP_CODES], [1002, 1003, 1007, 1009]);
  for (const code of STOP_CODES) assert.equal(shouldReconnect(code), false, `${code} stops`);
  for (const code of [1000, 1001, 1005, 1006, 1008, 1011, 1012, 1013, 4000]) assert.equal(shouldReconnect(code), true, `${code} reconnects`);
});
