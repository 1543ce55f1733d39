'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const msb = require('..');
const { PythonSandbox, NodeSandbox, Sandbox, MsbError, NOT_STARTED } = msb;
const { cannotRun } = require('./helpers');

let skip = '';
test.before(async () => { skip = await cannotRun(); });

test('version and host info', async () => {
  assert.match(msb.version, /^\d+\.\d+\.\d+$/);
  const h = await msb.hostInfo();
  assert.equal(typeof h.userNamespaces, 'boolean');
  assert.ok(['os', 'vm'].includes(h.autoBackend));
});

test('calls before start fail with the SDK message, as MsbError with code and hint', async (t) => {
  const sb = new PythonSandbox({ name: 'not-started' });
  assert.equal(sb.isStarted, false);
  assert.equal(sb.name, 'not-started');
  for (const call of [() => sb.run('1'), () => sb.command.run('true'), () => sb.metrics.all(),
    () => sb.metrics.isRunning(), () => sb.fs.read('x')]) {
    await assert.rejects(call(), (e) => {
      assert.ok(e instanceof MsbError);
      assert.ok(e instanceof Error);
      assert.equal(e.message, NOT_STARTED);
      assert.equal(e.message, 'Sandbox is not started. Call start() first.');
      assert.equal(e.code, 'MSB_ESTATE');
      assert.ok(e.hint.length > 0);
      return true;
    });
  }
  await sb.stop(); // stop on a sandbox never started: nothing to do
});

test('trust routes the auto backend; untrusted code fails closed without a microVM', async (t) => {
  if (skip) return t.skip(skip);
  const h = await msb.hostInfo();
  assert.equal(typeof h.vmReady, 'boolean');
  assert.equal(h.autoBackend, h.vmReady ? 'vm' : 'os');
  const trusted = new PythonSandbox({ trust: 'trusted' });
  await trusted.start();
  try {
    const i = trusted.info();
    assert.equal(i.backend, 'os');
    assert.match(i.backendReason, /trusted/);
  } finally { await trusted.stop(); }
  await assert.rejects(new PythonSandbox({ trust: 'paranoid' }).start(), /trust/);
  if (h.vmReady) return;
  await assert.rejects(new PythonSandbox({ trust: 'untrusted' }).start(), (e) => {
    assert.equal(e.code, 'MSB_EUNSUPPORTED');
    assert.match(e.hint, /allow_fallback/);
    return true;
  });
  const fb = new PythonSandbox({ trust: 'untrusted', allowFallback: true });
  await fb.start();
  try {
    assert.equal(fb.info().backend, 'os');
    assert.match(fb.info().backendReason, /fallback/);
  } finally { await fb.stop(); }
});

test('default name is sandbox- and 8 hex digits', () => {
  assert.match(new NodeSandbox().name, /^sandbox-[0-9a-f]{8}$/);
});

test('python sandbox: lifecycle, REPL state, errors, commands', async (t) => {
  if (skip) return t.skip(skip);
  const sb = await PythonSandbox.create({ name: 'node-api-py', memory: 256, cpus: 1 });
  try {
    assert.equal(sb.isStarted, true);
    assert.equal(sb.name, 'node-api-py');
    await sb.start(); // idempotent
    assert.equal(sb.info().status, 'running');

    let e = await sb.run('x = 6 * 7\nprint(x)');
    assert.equal(e.status, 'success');
    // interrupt: the run ends 'interrupted', x survives
    assert.equal(await sb.interrupt(), false);
    const slow = sb.run('import time\ntime.sleep(30)');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await sb.interrupt(), true);
    assert.equal((await slow).status, 'interrupted');
    assert.equal(await (await sb.run('print(x)')).output(), '42\n');
    assert.equal(e.language, 'python');
    assert.equal(await e.output(), '42\n');
    assert.equal(e.hasError(), false);
    e = await sb.run('print(x + 1)'); // state persists
    assert.equal(await e.output(), '43\n');
    e = await sb.run('x');
    assert.equal(e.value, '42');
    assert.equal(e.valueTruncated, false);
    assert.equal(e.stdoutTruncated, false);
    // a value larger than a reply is cut, and the result says so
    e = await sb.run("'x' * 1000000");
    assert.equal(e.valueTruncated, true);
    assert.ok(e.value.length < 1000000);

    e = await sb.run('1/0');
    assert.equal(e.hasError(), true);
    assert.equal(e.status, 'error');
    assert.equal(e.errorType, 'ZeroDivisionError');
    assert.match(await e.error(), /ZeroDivisionError/);

    e = await sb.run('import sys; sys.stderr.write("oops\\n")');
    assert.equal(await e.error(), 'oops\n');

    e = await sb.run('import time; time.sleep(30)', { timeout: 0.5 });
    assert.equal(e.status, 'timeout');
    assert.equal(e.hasError(), true);
    assert.equal(await (await sb.run('print(x)')).output(), '42\n', 'state kept after a timeout');

    let c = await sb.command.run('echo', ['hello', 'world']);
    assert.equal(c.exitCode, 0);
    assert.equal(c.success, true);
    assert.equal(await c.output(), 'hello world\n');
    assert.equal(c.command, 'echo');
    assert.deepEqual(c.args, ['hello', 'world']);

    c = await sb.command.run('sh', ['-c', 'echo bad >&2; exit 3']);
    assert.equal(c.exitCode, 3);
    assert.equal(c.success, false);
    assert.equal(await c.error(), 'bad\n');

    c = await sb.command.run('sleep', ['10'], 0.3); // timeout in seconds, positional
    assert.equal(c.timedOut, true);
    assert.equal(c.success, false);

    c = await sb.command.run('cat', [], { stdin: 'from stdin', env: { FOO: 'bar' } });
    assert.equal(c.stdout, 'from stdin');
    c = await sb.command.run('sh', ['-c', 'echo $FOO; pwd'], { env: { FOO: 'bar' }, cwd: '/tmp' });
    assert.equal(c.stdout, 'bar\n/tmp\n');

    await assert.rejects(sb.command.run('no-such-program-xyz'), (err) => {
      assert.equal(err.code, 'MSB_ENOTFOUND');
      assert.equal(err.errno, -11);
      assert.ok(err.hint.length > 0, 'has a hint');
      return true;
    });

    const m = await sb.metrics.all();
    assert.equal(m.name, 'node-api-py');
    assert.equal(m.running, true);
    assert.equal(typeof m.cpu_usage, 'number');
    assert.ok(m.memory_usage > 0, 'memory in MiB');
    assert.equal(typeof m.disk_usage, 'number');
    assert.equal(await sb.metrics.isRunning(), true);
    assert.ok((await sb.metrics.memory()) > 0);
    assert.equal(typeof (await sb.metrics.cpu()), 'number');
    assert.equal(typeof (await sb.metrics.disk()), 'number');
  } finally {
    await sb.stop();
  }
  assert.equal(sb.isStarted, false);
  await sb.stop(); // idempotent
  await assert.rejects(sb.run('1'), { message: NOT_STARTED });
});

test('node sandbox runs JavaScript with state', async (t) => {
  if (skip) return t.skip(skip);
  const sb = await NodeSandbox.create();
  try {
    let e = await sb.run('let y = 20; console.log(y + 1)');
    assert.equal(e.language, 'nodejs');
    assert.equal(await e.output(), '21\n');
    e = await sb.run('y * 2');
    assert.equal(e.value, '40');
    e = await sb.run('throw new TypeError("nope")');
    assert.equal(e.hasError(), true);
    assert.equal(e.errorType, 'TypeError');
  } finally {
    await sb.stop();
  }
});

test('new + start(image, memory, cpus, timeout), restart after stop', async (t) => {
  if (skip) return t.skip(skip);
  const sb = new PythonSandbox();
  await sb.start('microsandbox/python', 128, 0.5, 30);
  await sb.run('z = 1');
  await sb.stop();
  await sb.start();
  const e = await sb.run('print("z" in dir())');
  assert.equal(e.stdout, 'False\n', 'a restarted sandbox starts afresh');
  await sb.stop();
  await assert.rejects(new PythonSandbox().start('docker.io/library/ubuntu'), { code: 'MSB_EUNSUPPORTED' });
  await assert.rejects(PythonSandbox.create({ memory: 1 }), (err) => err.code === 'MSB_EINVAL' && err.hint !== '');
});

test('a bad hostname rejects with MSB_EINVAL naming it, with a hint', async () => {
  for (const bad of ['bad_name', '-web', 'a..b', 'x'.repeat(64)]) {
    await assert.rejects(new PythonSandbox({ hostname: bad }).start(), (e) => {
      assert.ok(e instanceof MsbError);
      assert.equal(e.code, 'MSB_EINVAL');
      assert.ok(e.message.includes(`"${bad}"`), e.message);
      assert.ok(e.hint.length > 0);
      return true;
    });
  }
  await assert.rejects(new PythonSandbox({ hostname: 42 }).start(), TypeError);
});

test('hostname reaches the sandbox', async (t) => {
  if (skip) return t.skip(skip);
  const sb = await PythonSandbox.create({ hostname: 'web-1' });
  try {
    const c = await sb.command.run('hostname');
    assert.equal(await c.output(), 'web-1\n');
  } finally { await sb.stop(); }
});

test('streaming output: callbacks in order, before the promise settles', async (t) => {
  if (skip) return t.skip(skip);
  const sb = await Sandbox.create();
  try {
    const seen = [];
    const c = await sb.command.run('sh', ['-c', 'for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.05; done'], {
      onStdout: (s) => seen.push(['out', s]),
      onStderr: (s) => seen.push(['err', s]),
    });
    assert.equal(c.exitCode, 0);
    assert.equal(seen.filter(([k]) => k === 'out').map(([, s]) => s).join(''), 'out1\nout2\nout3\n');
    assert.equal(seen.filter(([k]) => k === 'err').map(([, s]) => s).join(''), 'err1\nerr2\nerr3\n');
    assert.equal(c.stdout, 'out1\nout2\nout3\n', 'the result keeps what was streamed');

    const py = await sb.run('for i in range(3): print(i, flush=True)', { language: 'python', onStdout: (s) => seen.push(s) });
    assert.equal(py.stdout, '0\n1\n2\n');

    // A callback that throws stops the run and rejects with its error.
    const boom = new Error('stop it');
    await assert.rejects(sb.command.run('sh', ['-c', 'while :; do echo x; sleep 0.01; done'], {
      onStdout: () => { throw boom; },
    }), (e) => e === boom);

    // Async iteration over a command's output.
    const chunks = [];
    for await (const ch of sb.command.stream('sh', ['-c', 'echo a; echo b >&2'])) chunks.push(`${ch.stream}:${ch.data}`);
    assert.deepEqual(chunks.sort(), ['stderr:b\n', 'stdout:a\n']);
  } finally {
    await sb.stop();
  }
});

test('files', async (t) => {
  if (skip) return t.skip(skip);
  const sb = await Sandbox.create();
  try {
    await sb.fs.write('hello.txt', 'hi');
    await sb.fs.write('hello.txt', ' there', { append: true });
    assert.equal(await sb.fs.readText('hello.txt'), 'hi there');
    assert.deepEqual(await sb.fs.read('hello.txt'), Buffer.from('hi there'));
    await assert.rejects(sb.fs.write('hello.txt', 'x', { exclusive: true }), { code: 'MSB_EEXISTS' });
    const st = await sb.fs.stat('hello.txt');
    assert.equal(st.type, 'file');
    assert.equal(st.size, 8);
    assert.equal(await sb.fs.exists('hello.txt'), true);
    assert.equal(await sb.fs.exists('nope'), false);
    await sb.fs.mkdir('a/b/c', { parents: true });
    await sb.fs.rename('hello.txt', 'a/b/c/moved.txt');
    assert.deepEqual((await sb.fs.list('a/b/c')).map((e) => e.name), ['moved.txt']);
    await sb.fs.write('bin.dat', Buffer.from([0, 1, 2, 255]));
    assert.deepEqual([...(await sb.fs.read('bin.dat'))], [0, 1, 2, 255]);
    await assert.rejects(sb.fs.read('bin.dat', { maxBytes: 2 }), { code: 'MSB_ETOOBIG' });
    await assert.rejects(sb.fs.read('/etc/shadow'), (e) => e instanceof MsbError);
    await sb.fs.remove('a', { recursive: true });
    assert.equal(await sb.fs.exists('a'), false);

    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'msb-node-'));
    fs.writeFileSync(path.join(tmp, 'in.txt'), 'from host');
    await sb.fs.copyIn(path.join(tmp, 'in.txt'), '/tmp/in.txt');
    assert.equal((await sb.command.run('cat', ['/tmp/in.txt'])).stdout, 'from host');
    await sb.fs.copyOut('/tmp/in.txt', path.join(tmp, 'out.txt'));
    assert.equal(fs.readFileSync(path.join(tmp, 'out.txt'), 'utf8'), 'from host');
    fs.rmSync(tmp, { recursive: true });
  } finally {
    await sb.stop();
  }
});

test('background processes and PTY', async (t) => {
  if (skip) return t.skip(skip);
  const sb = await Sandbox.create();
  try {
    const p = await sb.command.spawn('sh', ['-c', 'read line; echo got:$line; exit 7']);
    assert.ok(p.pid > 0);
    assert.equal((await sb.command.list()).length, 1);
    assert.equal(await p.read({ timeout: 0.1 }), undefined, 'nothing yet');
    await p.write('ping\n');
    const first = await p.read();
    assert.equal(first.stream, 'stdout');
    assert.equal(first.data.toString(), 'got:ping\n');
    const r = await p.wait();
    assert.equal(r.exitCode, 7);
    assert.equal(await p.read(), null, 'ended');
    await p.release();
    await p.release(); // idempotent
    await assert.rejects(p.read(), { code: 'MSB_ESTATE' });

    const sleeper = await sb.command.spawn('sleep', ['60']);
    await sleeper.kill('SIGTERM');
    const w = await sleeper.wait({ timeout: 5 });
    assert.equal(w.signal, 15);
    await sleeper.release();

    const pty = await sb.pty.open({ command: 'sh', rows: 30, cols: 100 });
    await pty.write('stty size; exit\n');
    let text = '';
    for await (const ch of pty) text += ch.data;
    assert.match(text, /30 100/);
    await pty.release();

    // A process left running is killed by stop().
    const left = await sb.command.spawn('sleep', ['60']);
    await sb.stop();
    await assert.rejects(left.read(), { code: 'MSB_ESTATE' });
  } finally {
    await sb.stop();
  }
});

test('REPL contexts are separate interpreters', async (t) => {
  if (skip) return t.skip(skip);
  const sb = await PythonSandbox.create();
  try {
    await sb.run('v = "default"');
    await sb.createContext('other');
    await sb.run('v = "other"', { context: 'other' });
    assert.equal((await sb.run('print(v)')).stdout, 'default\n');
    assert.equal((await sb.run('print(v)', { context: 'other' })).stdout, 'other\n');
    const names = (await sb.listContexts()).map((c) => `${c.language}/${c.name}`);
    assert.ok(names.includes('python/other'));
    await sb.resetContext('other');
    assert.equal((await sb.run('v', { context: 'other' })).errorType, 'NameError');
    await sb.destroyContext('other');
    // A shell run in the same sandbox
    assert.equal((await sb.run('echo $((2+3))', { language: 'shell' })).stdout, '5\n');
  } finally {
    await sb.stop();
  }
});

test('Symbol.asyncDispose stops the sandbox (await using)', async (t) => {
  if (skip) return t.skip(skip);
  const sb = await PythonSandbox.create();
  const dispose = sb[Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')];
  assert.equal(typeof dispose, 'function');
  await dispose.call(sb);
  assert.equal(sb.isStarted, false);
});

test('concurrent commands in one sandbox', async (t) => {
  if (skip) return t.skip(skip);
  const sb = await Sandbox.create();
  try {
    const t0 = Date.now();
    const rs = await Promise.all([1, 2, 3].map((i) => sb.command.run('sh', ['-c', `sleep 0.3; echo ${i}`])));
    assert.deepEqual(rs.map((r) => r.stdout), ['1\n', '2\n', '3\n']);
    assert.ok(Date.now() - t0 < 850, 'ran at the same time');
  } finally {
    await sb.stop();
  }
});

test('bad arguments throw TypeError synchronously-rejected, no crash', async (t) => {
  if (skip) return t.skip(skip);
  const n = msb._native;
  assert.throws(() => n.commandRun({}, ['true'], {}), TypeError);
  assert.throws(() => n.process(null, 0), TypeError);
  const sb = await Sandbox.create();
  try {
    await assert.rejects(sb.command.run('true', [], { stdin: 42 }), TypeError);
    await assert.rejects(sb.command.run('true', [], { onStdout: 'nope', onStderr: 5 }), TypeError);
    await assert.rejects(sb.command.run('true', [], -1), TypeError);
  } finally {
    await sb.stop();
  }
});

// Node marks its fds 0-2 close-on-exec: this once left msb-agent with them
// closed, and a detached agent's listening socket on fd 0 (fixed in libmsb).
test('named (detached) sandboxes: connect, list, stop', async (t) => {
  if (skip) return t.skip(skip);
  const name = `node-test-${process.pid}`;
  const a = await Sandbox.create({ name, detached: true });
  try {
    await a.fs.write('/tmp/mark', 'shared');
    const b = await Sandbox.connect(name);
    assert.equal(b.name, name);
    assert.equal(await b.fs.readText('/tmp/mark'), 'shared');
    const listed = (await Sandbox.list()).find((s) => s.name === name);
    assert.equal(listed?.status, 'running');
    // Disconnecting leaves it running: a still works.
    await b.disconnect();
    assert.equal(b.isStarted, false);
    assert.equal(await a.fs.readText('/tmp/mark'), 'shared');
    // stop() from any handle ends it.
    const c = await Sandbox.connect(name);
    await c.stop();
    await assert.rejects(a.command.run('true'), (e) => e instanceof MsbError);
    await assert.rejects(Sandbox.connect(name), (e) => ['MSB_ENOTFOUND', 'MSB_ESTATE'].includes(e.code));
  } finally {
    await a.stop();
    await Sandbox.remove(name).catch(() => {});
  }
});
