'use strict';
// Handles are released by finalizers and by stop(): 200 sandboxes created,
// started and dropped leave no processes and no file descriptors behind.
const test = require('node:test');
const assert = require('node:assert/strict');
const { PythonSandbox, Sandbox, _native } = require('..');
const { cannotRun, descendants, fdCount, sleep } = require('./helpers');

async function settle(timeoutMs = 30000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    global.gc();
    await sleep(20);
    global.gc();
    const s = _native._stats();
    if ((s.sandboxes === 0 && s.processes === 0 && s.reaperPending === 0) || Date.now() > end) return s;
    await sleep(50);
  }
}

async function dropOne(i) {
  const sb = await PythonSandbox.create({ memory: 64 });
  if (i % 10 === 0) {
    const r = await sb.command.run('true');
    assert.equal(r.exitCode, 0);
    // Some keep a background process open: it borrows the sandbox, so
    // both must go, the process first.
    await sb.command.spawn('sleep', ['60']);
  }
}

test('200 sandboxes dropped without stop(): finalizers free them all', { timeout: 300000 }, async (t) => {
  const why = await cannotRun();
  if (why) return t.skip(why);
  if (typeof global.gc !== 'function') return t.skip('needs node --expose-gc (npm test passes it)');

  // Warm up (thread pool, reaper thread, libmsb's first-use state).
  await (await Sandbox.create()).stop();
  await dropOne(0);
  await settle();
  const fds0 = fdCount();
  const procs0 = descendants().length;

  let peak = 0;
  for (let i = 0; i < 200; i++) {
    // In a function of its own: a local of this async function would live
    // on in its suspended frame and keep the last sandbox reachable.
    await dropOne(i);
    peak = Math.max(peak, descendants().length);
    if (i % 20 === 19) {
      global.gc();
      await sleep(0);
    }
  }
  const s = await settle();
  assert.deepEqual({ sandboxes: s.sandboxes, processes: s.processes, reaperPending: s.reaperPending }, { sandboxes: 0, processes: 0, reaperPending: 0 }, 'every native handle was freed');
  const procs1 = descendants();
  const fds1 = fdCount();
  t.diagnostic(`descendants: ${procs0} before, peak ${peak}, ${procs1.length} after; fds: ${fds0} before, ${fds1} after`);
  assert.ok(peak > procs0, 'sandboxes did run as child processes');
  assert.equal(procs1.length, procs0, `leftover processes: ${procs1.join(' ')}`);
  assert.ok(fds1 <= fds0 + 2, `fds grew from ${fds0} to ${fds1}`);
});

test('200 sandboxes stopped with stop() leave nothing behind', { timeout: 300000 }, async (t) => {
  const why = await cannotRun();
  if (why) return t.skip(why);
  if (typeof global.gc !== 'function') return t.skip('needs node --expose-gc (npm test passes it)');
  await settle();
  const fds0 = fdCount();
  const procs0 = descendants().length;
  for (let i = 0; i < 200; i += 4) {
    // four at a time, stopped while a command runs in one of them
    const sbs = await Promise.all([0, 1, 2, 3].map(() => Sandbox.create({ memory: 64 })));
    const running = sbs[0].command.run('sleep', ['5']).catch((e) => e);
    await Promise.all(sbs.map((sb) => sb.stop(100)));
    const r = await running;
    assert.ok(r instanceof Error || r.exitCode !== 0, 'the command ended with its sandbox');
    assert.equal(sbs.some((sb) => sb.isStarted), false);
  }
  const s = await settle();
  assert.deepEqual({ sandboxes: s.sandboxes, processes: s.processes, reaperPending: s.reaperPending }, { sandboxes: 0, processes: 0, reaperPending: 0 });
  assert.equal(descendants().length, procs0);
  assert.ok(fdCount() <= fds0 + 2, `fds grew from ${fds0} to ${fdCount()}`);
});

test('a sandbox dropped while a call runs is freed only after the call', async (t) => {
  const why = await cannotRun();
  if (why) return t.skip(why);
  if (typeof global.gc !== 'function') return t.skip('needs node --expose-gc (npm test passes it)');
  // The Sandbox object is unreachable as soon as run() was called.
  const pending = (await Sandbox.create()).command.run('sh', ['-c', 'sleep 0.3; echo alive']);
  for (let i = 0; i < 5; i++) {
    global.gc();
    await sleep(10);
  }
  const r = await pending;
  assert.equal(r.stdout, 'alive\n');
  const s = await settle();
  assert.equal(s.sandboxes, 0);
});
