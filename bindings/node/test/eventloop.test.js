'use strict';
// Every blocking call runs off the JavaScript thread: while a sandbox runs
// a 1-second command, timers on the event loop keep firing.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Sandbox, PythonSandbox } = require('..');
const { cannotRun } = require('./helpers');

test('timers keep firing while a 1-second command runs', async (t) => {
  const why = await cannotRun();
  if (why) return t.skip(why);
  const sb = await Sandbox.create();
  try {
    let ticks = 0;
    const timer = setInterval(() => { ticks++; }, 10);
    const t0 = process.hrtime.bigint();
    const r = await sb.command.run('sleep', ['1']);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    clearInterval(timer);
    assert.equal(r.exitCode, 0);
    assert.ok(ms >= 950, `the command took ${ms} ms`);
    // A blocked loop would see 0 or 1 tick; a free one about 100.
    assert.ok(ticks >= 50, `only ${ticks} timer ticks during a ${ms.toFixed(0)} ms command`);
  } finally {
    await sb.stop();
  }
});

test('timers keep firing during a 1-second REPL run, start and stop', async (t) => {
  const why = await cannotRun();
  if (why) return t.skip(why);
  let ticks = 0;
  const timer = setInterval(() => { ticks++; }, 10);
  const sb = await PythonSandbox.create();
  try {
    const before = ticks;
    const e = await sb.run('import time; time.sleep(1); print("ok")');
    assert.equal(e.stdout, 'ok\n');
    assert.ok(ticks - before >= 50, `only ${ticks - before} ticks during a 1-second run`);
  } finally {
    // stop with processes running: they get the grace period
    await sb.command.spawn('sleep', ['30']);
    const before = ticks;
    const t0 = Date.now();
    await sb.stop(1000);
    const ms = Date.now() - t0;
    clearInterval(timer);
    if (ms >= 500) assert.ok(ticks - before >= 20, `only ${ticks - before} ticks during a ${ms} ms stop`);
  }
});
