'use strict';
/*
 * msb for Node.js: sandboxes for untrusted code, over libmsb.
 *
 * The surface mirrors the microsandbox JS SDK (PythonSandbox / NodeSandbox,
 * create, start, stop, run, command.run, metrics) and adds what libmsb
 * offers beyond it: streaming output, files, background processes and
 * PTYs, REPL contexts, named sandboxes, `await using`.
 *
 * Every call that can block runs off the JavaScript thread in the addon
 * (napi async work) and returns a promise.
 */
const path = require('node:path');
const crypto = require('node:crypto');
const os = require('node:os');

const native = require(path.join(__dirname, 'build', 'msb.node'));

/** Errors from libmsb: `code` is the MSB_E* name, `hint` one sentence on
 * what to do, `errno` the numeric libmsb code, `osErrno` the OS errno. */
class MsbError extends Error {
  constructor(message, props) {
    super(message);
    this.name = 'MsbError';
    if (props) Object.assign(this, props);
  }
}
native.setErrorClass(MsbError);

const CODES = {
  MSB_ERROR: -1, MSB_EINVAL: -2, MSB_ENOMEM: -3, MSB_EVERSION: -4,
  MSB_ESTATE: -5, MSB_EUNSUPPORTED: -6, MSB_ESPAWN: -7, MSB_EPROTO: -8,
  MSB_ESANDBOX: -9, MSB_ETIMEDOUT: -10, MSB_ENOTFOUND: -11, MSB_EPERM: -12,
  MSB_EIO: -13, MSB_ECANCELED: -14, MSB_EDONE: -15, MSB_EEXISTS: -16,
  MSB_ETOOBIG: -17,
};

function msbError(code, message, hint) {
  return new MsbError(message, { code, errno: CODES[code] ?? -1, hint: hint || '', osErrno: 0 });
}

const NOT_STARTED = 'Sandbox is not started. Call start() first.';
const notStarted = () =>
  msbError('MSB_ESTATE', NOT_STARTED, 'await sb.start(), or create the sandbox with Sandbox.create()');

const asyncDispose = Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose');
const MiB = 1024 * 1024;
const DEFAULT_IMAGES = new Set(['microsandbox/python', 'microsandbox/node', 'microsandbox/nodejs']);

function seconds(v, what) {
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !(v >= 0)) throw new TypeError(`${what} must be a number of seconds >= 0`);
  return Math.ceil(v * 1000);
}

function envList(env) {
  if (env === undefined || env === null) return undefined;
  if (Array.isArray(env)) return env.map(String);
  return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

function signalNumber(sig) {
  if (sig === undefined) return os.constants.signals.SIGKILL;
  if (typeof sig === 'number') return sig;
  const n = os.constants.signals[sig];
  if (!n) throw new TypeError(`unknown signal ${sig}`);
  return n;
}

/* Output callbacks: the addon calls onChunk(stream, Buffer) on the JS
 * thread, in order, before the call's promise settles. libmsb does not
 * buffer what it streams, so the chunks are also kept here for the
 * result's stdout/stderr. */
function chunkCallback(opts) {
  const out = opts && opts.onStdout;
  const err = opts && opts.onStderr;
  const any = opts && opts.onOutput;
  for (const [k, f] of [['onStdout', out], ['onStderr', err], ['onOutput', any]]) {
    if (f !== undefined && f !== null && typeof f !== 'function') throw new TypeError(`${k} must be a function`);
  }
  if (!out && !err && !any) return {};
  const kept = { stdout: [], stderr: [] };
  const cb = (stream, buf) => {
    const name = stream === 2 ? 'stderr' : 'stdout';
    kept[name].push(buf);
    const text = buf.toString();
    if (any) any(text, name, buf);
    if (name === 'stdout' && out) out(text, buf);
    if (name === 'stderr' && err) err(text, buf);
  };
  const fill = (r) => {
    if (!r.stdout.length) r.stdout = Buffer.concat(kept.stdout);
    if (!r.stderr.length) r.stderr = Buffer.concat(kept.stderr);
    return r;
  };
  return { cb, fill };
}

/** The result of sb.run(): code run in the sandbox's REPL. */
class Execution {
  constructor(r, language) {
    this.status = r.status;        // 'success' | 'error' | 'timeout' | 'interrupted'
    this.language = language;      // 'python' | 'nodejs' | 'shell'
    this.stdout = r.stdout.toString();
    this.stderr = r.stderr.toString();
    this.value = r.value.toString();            // repr of the last expression
    this.errorType = r.errorType;               // e.g. 'ZeroDivisionError'
    this.errorMessage = r.errorMessage;
    this.traceback = r.traceback.toString();
    this.outputs = r.outputs;                   // [{ mime, data: Buffer }]
    this.stateLost = r.stateLost;
    this.elapsedMs = r.elapsedMs;
    this.stdoutTruncated = r.stdoutTruncated;   // past the 64 MiB cap: cut
    this.stderrTruncated = r.stderrTruncated;
    this.valueTruncated = r.valueTruncated;     // cut to fit one reply
  }
  /** stdout text. */
  async output() { return this.stdout; }
  /** stderr text, followed by the traceback when the code raised. */
  async error() {
    if (this.traceback && !this.stderr.includes(this.traceback)) {
      return this.stderr + this.traceback;
    }
    return this.stderr;
  }
  hasError() { return this.status !== 'success'; }
}

/** The result of command.run() and process.wait(). */
class CommandExecution {
  constructor(r, command, args) {
    this.command = command;
    this.args = args;
    this.exitCode = r.exitCode;       // -1 when a signal killed it
    this.signal = r.signal;
    this.timedOut = r.timedOut;
    this.elapsedMs = r.elapsedMs;
    this.stdout = r.stdout.toString();
    this.stderr = r.stderr.toString();
    this.stdoutBuffer = r.stdout;
    this.stderrBuffer = r.stderr;
    this.stdoutTruncated = r.stdoutTruncated;
    this.stderrTruncated = r.stderrTruncated;
  }
  get success() { return this.exitCode === 0; }
  async output() { return this.stdout; }
  async error() { return this.stderr; }
}

/* Waiting "forever" is done in slices, so that no thread-pool thread is
 * held for long by one call and an environment being torn down (a worker
 * terminated), which waits for calls in flight, never waits long. */
const SLICE_MS = 1000;

/** A background process or PTY session. Output is pulled (read(), or
 * `for await (const chunk of proc)`), so a slow consumer slows nobody. */
class Process {
  #h;
  #sandbox;
  constructor(h, sandbox, command, args) {
    this.#h = h;
    this.#sandbox = sandbox;
    this.command = command;
    this.args = args;
    this.pid = native.processPid(h);
  }
  #handle() {
    if (!this.#h) throw msbError('MSB_ESTATE', 'the process was released', 'start a new one');
    return this.#h;
  }
  /** Next chunk { stream: 'stdout'|'stderr', data: Buffer }, or null once
   * the process ended and all output was read. With `timeout` (seconds),
   * resolves to undefined when nothing came in time. */
  async read(opts = {}) {
    const forever = opts.timeout === undefined;
    const ms = forever ? SLICE_MS : seconds(opts.timeout, 'timeout');
    for (;;) {
      const r = await native.process(this.#handle(), 0, ms);
      if (r.done) return null;
      if (!r.timedOut) return r;
      if (!forever) return undefined;
    }
  }
  write(data) { return native.process(this.#handle(), 1, data); }
  closeStdin() { return native.process(this.#handle(), 2); }
  signal(sig) { return native.process(this.#handle(), 3, signalNumber(sig)); }
  kill(sig = 'SIGKILL') { return this.signal(sig); }
  resize(rows, cols) { return native.process(this.#handle(), 4, rows, cols); }
  /** Wait for the end: a CommandExecution holding the output not read yet. */
  async wait(opts = {}) {
    const forever = opts.timeout === undefined;
    const ms = forever ? SLICE_MS : seconds(opts.timeout, 'timeout');
    for (;;) {
      try {
        const r = await native.process(this.#handle(), 5, ms);
        return new CommandExecution(r, this.command, this.args);
      } catch (e) {
        if (!forever || e.code !== 'MSB_ETIMEDOUT') throw e;
      }
    }
  }
  /** Kill it if it still runs and free the handle. Idempotent. */
  async release() {
    const h = this.#h;
    if (!h) return;
    this.#h = null;
    this.#sandbox?._forget(this);
    await native.processRelease(h);
  }
  async *[Symbol.asyncIterator]() {
    for (;;) {
      const c = await this.read();
      if (c === null) return;
      yield c;
    }
  }
  async [asyncDispose]() { await this.release(); }
}

class Command {
  #sb;
  constructor(sb) { this.#sb = sb; }
  /**
   * Run a program (no shell) and wait for it: run(command, args = [],
   * timeout) with timeout in seconds, as in the microsandbox SDK, or
   * run(command, args, { timeout, env, cwd, stdin, outputCap, onStdout,
   * onStderr, onOutput }).
   */
  async run(command, args = [], timeout) {
    const opts = typeof timeout === 'object' && timeout !== null ? timeout : { timeout };
    const argv = [String(command), ...args.map(String)];
    const { cb, fill } = chunkCallback(opts);
    const r = await native.commandRun(this.#sb._handle(), argv, {
      env: envList(opts.env),
      cwd: opts.cwd,
      stdin: opts.stdin,
      timeoutMs: seconds(opts.timeout, 'timeout'),
      outputCap: opts.outputCap,
    }, cb);
    return new CommandExecution(fill ? fill(r) : r, command, args);
  }
  /** Start a program in the background: a Process. */
  async spawn(command, args = [], opts = {}) {
    const argv = [String(command), ...args.map(String)];
    const h = await native.processStart(this.#sb._handle(), argv, {
      env: envList(opts.env),
      cwd: opts.cwd,
      stdin: opts.stdin,
      timeoutMs: seconds(opts.timeout, 'timeout'),
    });
    return this.#sb._track(new Process(h, this.#sb, command, args));
  }
  /** Output as an async iterator of { stream, data } chunks; the process is
   * released when the loop ends (also on break or throw). */
  async *stream(command, args = [], opts = {}) {
    const p = await this.spawn(command, args, opts);
    try {
      yield* p;
    } finally {
      await p.release();
    }
  }
  /** The processes libmsb started in this sandbox. */
  list() { return native.processList(this.#sb._handle()); }
}

class Metrics {
  #sb;
  constructor(sb) { this.#sb = sb; }
  /** Everything libmsb measures: running, cpuPercent, memoryBytes,
   * diskBytes, pids, uptimeMs, hostMemoryBytes. */
  raw() { return native.metrics(this.#sb._handle()); }
  /** { name, running, cpu_usage (%), memory_usage (MiB), disk_usage (bytes) } */
  async all() {
    const m = await this.raw();
    return {
      name: this.#sb.name,
      running: m.running,
      cpu_usage: m.cpuPercent,
      memory_usage: m.memoryBytes / MiB,
      disk_usage: m.diskBytes,
      pids: m.pids,
      uptime_ms: m.uptimeMs,
    };
  }
  async cpu() { return (await this.raw()).cpuPercent; }
  async memory() { return (await this.raw()).memoryBytes / MiB; }
  async disk() { return (await this.raw()).diskBytes; }
  async isRunning() { return (await this.raw()).running; }
}

const F = { read: 0, write: 1, stat: 2, exists: 3, list: 4, mkdir: 5, remove: 6, rename: 7, copyIn: 8, copyOut: 9 };

/** Files inside the sandbox (paths relative to the workdir). */
class Files {
  #sb;
  constructor(sb) { this.#sb = sb; }
  #h() { return this.#sb._handle(); }
  /** A Buffer, or a string with { encoding }. maxBytes defaults to 64 MiB. */
  async read(p, opts = {}) {
    const b = await native.file(this.#h(), F.read, p, opts.maxBytes ?? 0);
    return opts.encoding ? b.toString(opts.encoding) : b;
  }
  readText(p) { return this.read(p, { encoding: 'utf8' }); }
  /** Write data (string, Buffer, Uint8Array); { append, exclusive, mode }. */
  write(p, data, opts = {}) {
    const flags = opts.exclusive ? 2 : opts.append ? 1 : 0;
    return native.file(this.#h(), F.write, p, data, flags, opts.mode ?? 0);
  }
  stat(p) { return native.file(this.#h(), F.stat, p); }
  exists(p) { return native.file(this.#h(), F.exists, p); }
  list(p = '.') { return native.file(this.#h(), F.list, p); }
  mkdir(p, opts = {}) { return native.file(this.#h(), F.mkdir, p, opts.mode ?? 0, !!(opts.parents ?? opts.recursive)); }
  remove(p, opts = {}) { return native.file(this.#h(), F.remove, p, !!opts.recursive); }
  rename(from, to) { return native.file(this.#h(), F.rename, from, to); }
  copyIn(hostPath, sandboxPath) { return native.file(this.#h(), F.copyIn, hostPath, sandboxPath); }
  copyOut(sandboxPath, hostPath) { return native.file(this.#h(), F.copyOut, sandboxPath, hostPath); }
}

class Pty {
  #sb;
  constructor(sb) { this.#sb = sb; }
  /** A shell (or { command, args }) on a new terminal: a Process whose
   * output is the terminal's, with resize(). */
  async open(opts = {}) {
    const argv = opts.command ? [String(opts.command), ...(opts.args || []).map(String)] : undefined;
    const h = await native.ptyOpen(this.#sb._handle(), {
      argv, env: envList(opts.env), cwd: opts.cwd, rows: opts.rows, cols: opts.cols,
    });
    return this.#sb._track(new Process(h, this.#sb, opts.command || 'shell', opts.args || []));
  }
}

const LANG_NAMES = { python: 'python', node: 'nodejs', shell: 'shell' };

/**
 * A sandbox. PythonSandbox and NodeSandbox fix the REPL language; the
 * generic Sandbox takes { language } ('python', 'node' or 'shell').
 */
class Sandbox {
  #h = null;
  #starting = null;
  #opts;
  #name;
  #procs = new Set(); // WeakRefs to this sandbox's processes

  static defaultLanguage = 'shell';

  constructor(options = {}) {
    this.#opts = { ...options };
    this.#name = options.name ?? `sandbox-${crypto.randomBytes(4).toString('hex')}`;
    this.language = options.language ?? this.constructor.defaultLanguage;
    this.command = new Command(this);
    this.metrics = new Metrics(this);
    this.fs = new Files(this);
    this.pty = new Pty(this);
  }

  /** Construct and start; resolves to the started sandbox. */
  static async create(options = {}) {
    const sb = new this(options);
    await sb.start(options.image, options.memory, options.cpus, options.timeout);
    return sb;
  }

  /** Attach to a running detached (named) sandbox. */
  static async connect(name, options = {}) {
    const sb = new this({ ...options, name });
    sb.#h = await native.sandboxConnect(name);
    return sb;
  }
  /** The named (detached) sandboxes of this user. */
  static list() { return native.named(0); }
  /** Kill a named sandbox at once. */
  static kill(name) { return native.named(1, name); }
  /** Remove a stale named sandbox's entry. */
  static remove(name) { return native.named(2, name); }

  get name() { return this.#h ? native.sandboxInfo(this.#h).name : this.#name; }
  get isStarted() { return this.#h !== null; }
  /** 'created' | 'running' | 'stopped' | 'exited', and how limits are
   * enforced: { name, status, backend, backendReason, exitReason,
   * enforcement }. */
  info() { return this.#h ? native.sandboxInfo(this.#h) : { name: this.#name, status: 'stopped' }; }

  /**
   * Start the sandbox (nothing happens when it runs already). memory in
   * MiB (512), cpus (1), timeout: how long starting may take, in seconds
   * (180). image: undefined, a microsandbox image name (the host's system
   * is used either way) or the absolute path of a root filesystem.
   * A stopped sandbox starts afresh: state from before is gone.
   */
  async start(image, memory, cpus, timeout) {
    if (this.#h) return;
    if (this.#starting) return this.#starting;
    const o = this.#opts;
    memory ??= o.memory ?? 512;
    cpus ??= o.cpus ?? 1;
    timeout ??= o.timeout ?? 180;
    image ??= o.image;
    let rootfs = o.rootfs;
    if (image !== undefined && image !== null) {
      if (typeof image === 'string' && image.startsWith('/')) rootfs = image;
      else if (!DEFAULT_IMAGES.has(image)) {
        throw msbError('MSB_EUNSUPPORTED', `image ${JSON.stringify(image)} is not available`,
          'msb runs the host system read-only; pass no image, or the absolute path of a root filesystem directory');
      }
    }
    const nopts = {
      name: this.#name,
      backend: o.backend,
      trust: o.trust,
      allowFallback: o.allowFallback,
      memoryBytes: Math.round(memory * MiB),
      cpus,
      pids: o.pids,
      diskBytes: o.disk === undefined ? undefined : Math.round(o.disk * MiB),
      timeoutMs: o.maxLifetime === undefined ? undefined : seconds(o.maxLifetime, 'maxLifetime'),
      env: envList(o.env),
      workdir: o.workdir,
      hostname: o.hostname,
      rootfs,
      volumes: o.volumes?.map((v) => {
        if (typeof v !== 'string') return v;
        const [hostPath, sandboxPath, mode] = v.split(':');
        return { hostPath, sandboxPath, readOnly: mode === 'ro' };
      }),
      detached: o.detached,
    };
    const started = native.sandboxStart(nopts);
    this.#starting = (async () => {
      let timer;
      const limit = new Promise((_, reject) => {
        timer = setTimeout(() => reject(msbError('MSB_ETIMEDOUT',
          `the sandbox did not start within ${timeout} s`, 'raise the start timeout')), timeout * 1000);
        timer.unref?.();
      });
      try {
        this.#h = await Promise.race([started, limit]);
      } catch (e) {
        // Started late: stop what came up after the timeout.
        started.then((h) => native.sandboxStop(h, 0), () => {});
        throw e;
      } finally {
        clearTimeout(timer);
        this.#starting = null;
      }
    })();
    return this.#starting;
  }

  /** Stop the sandbox and release it (idempotent). graceMs: how long its
   * processes get after SIGTERM (2000). */
  async stop(graceMs = 2000) {
    if (this.#starting) await this.#starting.catch(() => {});
    const h = this.#h;
    if (!h) return;
    this.#h = null;
    const procs = [...this.#procs].map((w) => w.deref()).filter(Boolean);
    this.#procs.clear();
    await native.sandboxStop(h, graceMs);
    await Promise.all(procs.map((p) => p.release().catch(() => {})));
  }

  /** Release this handle without stopping: a detached sandbox keeps
   * running (Sandbox.connect() reaches it again); any other sandbox ends
   * with its last handle. Idempotent. */
  async disconnect() {
    if (this.#starting) await this.#starting.catch(() => {});
    const h = this.#h;
    if (!h) return;
    this.#h = null;
    const procs = [...this.#procs].map((w) => w.deref()).filter(Boolean);
    this.#procs.clear();
    await Promise.all(procs.map((p) => p.release().catch(() => {})));
    await native.sandboxStop(h, 0, true);
  }

  /**
   * Run code in the sandbox's REPL, whose state persists between runs.
   * opts: { timeout (s), context, language, onStdout, onStderr, onOutput }.
   */
  async run(code, opts = {}) {
    const language = opts.language ?? this.language;
    const { cb, fill } = chunkCallback(opts);
    const r = await native.replRun(this._handle(), language, String(code), {
      context: opts.context,
      timeoutMs: seconds(opts.timeout, 'timeout'),
    }, cb);
    return new Execution(fill ? fill(r) : r, LANG_NAMES[language] ?? language);
  }

  /** REPL contexts: each (language, name) is an interpreter of its own. */
  createContext(name, language = this.language) { return native.replContext(this._handle(), 0, language, name); }
  resetContext(name = 'default', language = this.language) { return native.replContext(this._handle(), 1, language, name); }
  destroyContext(name, language = this.language) { return native.replContext(this._handle(), 2, language, name); }
  listContexts() { return native.replContext(this._handle(), 3); }
  /** Interrupt the code running in a context now: that run resolves with
   * status 'interrupted' and the interpreter keeps its state. Resolves to
   * whether code was running. */
  interrupt(name = 'default', language = this.language) { return native.replContext(this._handle(), 4, language, name); }

  async [asyncDispose]() { await this.stop(); }

  /** @internal */
  _handle() {
    if (!this.#h) throw notStarted();
    return this.#h;
  }
  /** @internal */
  _track(p) {
    if (this.#procs.size >= 64) {
      for (const w of this.#procs) if (!w.deref()) this.#procs.delete(w);
    }
    const w = new WeakRef(p);
    this.#procs.add(w);
    p._ref = w;
    return p;
  }
  /** @internal */
  _forget(p) { if (p._ref) this.#procs.delete(p._ref); }
}

class PythonSandbox extends Sandbox {
  static defaultLanguage = 'python';
}

class NodeSandbox extends Sandbox {
  static defaultLanguage = 'node';
}

/** What this host offers and what the "auto" backend picks. */
function hostInfo() { return native.hostProbe(); }

module.exports = {
  Sandbox,
  PythonSandbox,
  NodeSandbox,
  Execution,
  CommandExecution,
  Process,
  Command,
  Metrics,
  Files,
  Pty,
  MsbError,
  hostInfo,
  version: native.version(),
  NOT_STARTED,
  _native: native,
};
