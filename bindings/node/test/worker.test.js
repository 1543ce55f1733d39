'use strict';
// The addon is context-aware: it works in worker threads, and terminating
// a worker with sandboxes and calls in flight neither hangs nor leaks.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { Sandbox } = require('..');
const { cannotRun, descendants, sleep } = require('./helpers');

const src = `
const { Sandbox } = require(${JSON.stringify(path.join(__dirname, '..'))});
const { parentPort } = require('node:worker_threads');
(async () => {
  const sb = await Sandbox.create();
  const r = await sb.command.run('echo', ['from a worker']);
  parentPort.postMessage(r.stdout);
  // in flight when the worker goes: a stream that never ends, a process
  // read that waits for output that never comes, a sandbox never stopped
  sb.command.run('sh', ['-c', 'while :; do echo x; sleep 0.01; done'], { onStdout() {} }).catch(() => {});
  const p = await sb.command.spawn('sleep', ['600']);
  p.read().catch(() => {});
  await Sandbox.create();
  parentPort.postMessage('busy');
})();`;

test('terminating a worker with sandboxes and calls in flight', { timeout: 60000 }, async (t) => {
  const why = await cannotRun();
  if (why) return t.skip(why);
  const before = descendants().length;
  const w = new Worker(src, { eval: true });
  const msgs = [];
  await new Promise((resolve, reject) => {
    w.on('error', reject);
    w.on('message', (m) => { msgs.push(m); if (m === 'busy') resolve(); });
  });
  assert.equal(msgs[0], 'from a worker\n');
  assert.ok(descendants().length > before, 'the worker runs sandboxes');
  await w.terminate(); // hangs if a call in flight never ends
  // Its sandboxes were freed at its teardown.
  for (let i = 0; i < 100 && descendants().length > before; i++) await sleep(50);
  assert.equal(descendants().length, before, 'no process left behind by the worker');
  // The main thread's addon instance is unaffected.
  const sb = await Sandbox.create();
  assert.equal((await sb.command.run('echo', ['ok'])).stdout, 'ok\n');
  await sb.stop();
});
