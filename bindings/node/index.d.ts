// Type declarations for msb, the Node binding of libmsb. They describe
// index.js; test/types.test.js checks that the two agree.

/// <reference types="node" />

/** An error from libmsb (or the binding's own checks). */
export class MsbError extends Error {
  constructor(message: string, props?: Partial<Pick<MsbError, 'code' | 'errno' | 'hint' | 'osErrno'>>);
  /** The libmsb code's name, e.g. "MSB_ENOTFOUND", "MSB_ESTATE". */
  code: MsbErrorCode;
  /** The numeric libmsb code (negative). */
  errno: number;
  /** One sentence on what to do about it; may be "". */
  hint: string;
  /** The OS errno behind it, or 0. */
  osErrno: number;
}

export type MsbErrorCode =
  | 'MSB_ERROR' | 'MSB_EINVAL' | 'MSB_ENOMEM' | 'MSB_EVERSION' | 'MSB_ESTATE'
  | 'MSB_EUNSUPPORTED' | 'MSB_ESPAWN' | 'MSB_EPROTO' | 'MSB_ESANDBOX'
  | 'MSB_ETIMEDOUT' | 'MSB_ENOTFOUND' | 'MSB_EPERM' | 'MSB_EIO' | 'MSB_ECANCELED'
  | 'MSB_EDONE' | 'MSB_EEXISTS' | 'MSB_ETOOBIG';

/** "Sandbox is not started. Call start() first." */
export const NOT_STARTED: string;
/** libmsb's version, e.g. "0.1.0". */
export const version: string;

export type Language = 'python' | 'node' | 'javascript' | 'js' | 'shell' | 'bash' | 'sh';

export interface Volume {
  hostPath: string;
  sandboxPath: string;
  readOnly?: boolean;
}

export interface SandboxOptions {
  /** Default: "sandbox-" + 8 hex digits. */
  name?: string;
  /** undefined, "microsandbox/python", "microsandbox/node" (the host's
   * system is used), or the absolute path of a root filesystem. */
  image?: string;
  /** MiB; default 512. */
  memory?: number;
  /** Default 1; fractions allowed. */
  cpus?: number;
  /** How long starting may take, in seconds; default 180. */
  timeout?: number;
  /** REPL language of sb.run() for the generic Sandbox (default "shell"). */
  language?: Language;
  backend?: 'auto' | 'os' | 'vm';
  /** How far the code is trusted; steers backend "auto": untrusted code
   * runs only in a microVM (start fails without one unless allowFallback),
   * trusted code in os; default: vm when this host can run one, else os. */
  trust?: 'default' | 'untrusted' | 'trusted';
  /** Let "auto" run untrusted code in os when no microVM can run here. */
  allowFallback?: boolean;
  /** Max processes; default 512. */
  pids?: number;
  /** Writable area (/tmp, /workspace, /root) in MiB; default 512. */
  disk?: number;
  /** Wall-time limit of the whole sandbox, in seconds; default none. */
  maxLifetime?: number;
  env?: Record<string, string | number> | string[];
  /** Default "/workspace". */
  workdir?: string;
  /** The hostname inside: at most 63 letters, digits and '-' in
   * dot-separated labels (RFC 1123), such as "web-1"; default: the name,
   * cut to 63 characters. start() rejects a bad one (code MSB_EINVAL). */
  hostname?: string;
  /** A host directory holding a root filesystem. */
  rootfs?: string;
  /** Volumes, or "HOST:SANDBOX[:ro]" strings. */
  volumes?: Array<Volume | string>;
  /** Outlive this handle and process under its name (see Sandbox.connect). */
  detached?: boolean;
}

export interface OutputCallbacks {
  /** Called with stdout as it is produced, before the promise settles. */
  onStdout?: (text: string, data: Buffer) => void;
  onStderr?: (text: string, data: Buffer) => void;
  onOutput?: (text: string, stream: 'stdout' | 'stderr', data: Buffer) => void;
}

export interface RunOptions extends OutputCallbacks {
  /** Seconds; on expiry the run is interrupted and state kept. */
  timeout?: number;
  /** A REPL context of its own (default "default"). */
  context?: string;
  /** Another language than the sandbox's. */
  language?: Language;
}

export interface CommandOptions extends OutputCallbacks {
  /** Seconds; on expiry the command's process group is killed. */
  timeout?: number;
  env?: Record<string, string | number> | string[];
  cwd?: string;
  stdin?: string | Buffer | Uint8Array;
  /** Max bytes kept per stream; default 16 MiB. */
  outputCap?: number;
}

export interface SpawnOptions {
  timeout?: number;
  env?: Record<string, string | number> | string[];
  cwd?: string;
  /** Written first; stdin stays open. */
  stdin?: string | Buffer | Uint8Array;
}

export interface PtyOptions {
  /** Default: bash, else sh. */
  command?: string;
  args?: string[];
  env?: Record<string, string | number> | string[];
  cwd?: string;
  rows?: number;
  cols?: number;
}

export interface RichOutput {
  mime: string;
  data: Buffer;
}

/** The result of sb.run(). */
export class Execution {
  readonly status: 'success' | 'error' | 'timeout' | 'interrupted';
  readonly language: string;
  readonly stdout: string;
  readonly stderr: string;
  /** repr of the last expression; "" if none. */
  readonly value: string;
  readonly errorType: string;
  readonly errorMessage: string;
  readonly traceback: string;
  readonly outputs: RichOutput[];
  /** The interpreter was restarted: earlier state is gone. */
  readonly stateLost: boolean;
  readonly elapsedMs: number;
  /** stdout passed the 64 MiB cap and was cut. */
  readonly stdoutTruncated: boolean;
  /** stderr passed the 64 MiB cap and was cut. */
  readonly stderrTruncated: boolean;
  /** The value, the error or the rich outputs were cut to fit one reply. */
  readonly valueTruncated: boolean;
  output(): Promise<string>;
  /** stderr, followed by the traceback when the code raised. */
  error(): Promise<string>;
  hasError(): boolean;
}

/** The result of command.run() and Process.wait(). */
export class CommandExecution {
  readonly command: string;
  readonly args: string[];
  /** -1 when a signal killed it. */
  readonly exitCode: number;
  readonly signal: number;
  readonly timedOut: boolean;
  readonly elapsedMs: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly stdoutBuffer: Buffer;
  readonly stderrBuffer: Buffer;
  readonly stdoutTruncated: boolean;
  readonly stderrTruncated: boolean;
  readonly success: boolean;
  output(): Promise<string>;
  error(): Promise<string>;
}

export interface Chunk {
  stream: 'stdout' | 'stderr';
  data: Buffer;
}

/** A background process or PTY session. */
export class Process implements AsyncIterable<Chunk> {
  readonly pid: number;
  readonly command: string;
  readonly args: string[];
  /** The next chunk; null once it ended and all output was read;
   * undefined when nothing came within timeout seconds. */
  read(opts?: { timeout?: number }): Promise<Chunk | null | undefined>;
  write(data: string | Buffer | Uint8Array): Promise<void>;
  closeStdin(): Promise<void>;
  signal(sig: number | NodeJS.Signals): Promise<void>;
  kill(sig?: number | NodeJS.Signals): Promise<void>;
  resize(rows: number, cols: number): Promise<void>;
  wait(opts?: { timeout?: number }): Promise<CommandExecution>;
  /** Kill it if it runs and free the handle. Idempotent. */
  release(): Promise<void>;
  [Symbol.asyncIterator](): AsyncIterator<Chunk>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface ProcessInfo {
  pid: number;
  command: string;
  pty: boolean;
  startedMs: number;
}

export class Command {
  /** run(command, args, timeoutSeconds) as in the microsandbox SDK, or
   * with an options object. No shell is involved. */
  run(command: string, args?: string[], timeout?: number | CommandOptions): Promise<CommandExecution>;
  spawn(command: string, args?: string[], opts?: SpawnOptions): Promise<Process>;
  /** Output chunks as they come; the process is released at the end. */
  stream(command: string, args?: string[], opts?: SpawnOptions): AsyncGenerator<Chunk, void, undefined>;
  list(): Promise<ProcessInfo[]>;
}

export interface RawMetrics {
  running: boolean;
  cpuPercent: number;
  memoryBytes: number;
  diskBytes: number;
  pids: number;
  uptimeMs: number;
  /** What it costs the host: its processes (os), or the whole microVM (vm). */
  hostMemoryBytes: number;
}

export interface MetricsAll {
  name: string;
  running: boolean;
  /** Percent; 100 = one CPU busy. */
  cpu_usage: number;
  /** MiB. */
  memory_usage: number;
  /** Bytes. */
  disk_usage: number;
  pids: number;
  uptime_ms: number;
}

export class Metrics {
  raw(): Promise<RawMetrics>;
  all(): Promise<MetricsAll>;
  cpu(): Promise<number>;
  memory(): Promise<number>;
  disk(): Promise<number>;
  isRunning(): Promise<boolean>;
}

export interface FileStat {
  type: 'file' | 'directory' | 'symlink' | 'other' | 'unknown';
  size: number;
  mode: number;
  mtimeMs: number;
}

export interface DirEntry extends FileStat {
  name: string;
}

export class Files {
  read(path: string, opts?: { maxBytes?: number }): Promise<Buffer>;
  read(path: string, opts: { maxBytes?: number; encoding: BufferEncoding }): Promise<string>;
  readText(path: string): Promise<string>;
  write(path: string, data: string | Buffer | Uint8Array,
        opts?: { append?: boolean; exclusive?: boolean; mode?: number }): Promise<void>;
  stat(path: string): Promise<FileStat>;
  exists(path: string): Promise<boolean>;
  list(path?: string): Promise<DirEntry[]>;
  mkdir(path: string, opts?: { parents?: boolean; recursive?: boolean; mode?: number }): Promise<void>;
  remove(path: string, opts?: { recursive?: boolean }): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  copyIn(hostPath: string, sandboxPath: string): Promise<void>;
  copyOut(sandboxPath: string, hostPath: string): Promise<void>;
}

export class Pty {
  open(opts?: PtyOptions): Promise<Process>;
}

export interface SandboxInfo {
  name?: string;
  status: 'created' | 'running' | 'stopped' | 'exited';
  backend?: 'auto' | 'os' | 'vm';
  /** Why it runs there, e.g. "auto: os (trusted code)". */
  backendReason?: string;
  exitReason?: string;
  enforcement?: Record<'memory' | 'cpu' | 'pids' | 'disk' | 'time', 'none' | 'rlimit' | 'cgroup' | 'kernel'>;
}

export interface NamedSandbox {
  name: string;
  status: 'running' | 'exited';
  backend: string;
  createdMs: number;
  pid: number;
}

export interface ReplContext {
  language: string;
  name: string;
  running: boolean;
}

export class Sandbox implements AsyncDisposable {
  constructor(options?: SandboxOptions);
  static defaultLanguage: Language;
  /** Construct and start. */
  static create<T extends Sandbox>(this: new (options?: SandboxOptions) => T, options?: SandboxOptions): Promise<T>;
  static connect<T extends Sandbox>(this: new (options?: SandboxOptions) => T, name: string, options?: SandboxOptions): Promise<T>;
  static list(): Promise<NamedSandbox[]>;
  static kill(name: string): Promise<void>;
  static remove(name: string): Promise<void>;

  readonly name: string;
  readonly isStarted: boolean;
  language: Language;
  readonly command: Command;
  readonly metrics: Metrics;
  readonly fs: Files;
  readonly pty: Pty;

  info(): SandboxInfo;
  /** Idempotent. memory MiB (512), cpus (1), timeout s (180). */
  start(image?: string, memory?: number, cpus?: number, timeout?: number): Promise<void>;
  /** Idempotent; graceMs (2000) after SIGTERM before SIGKILL. */
  stop(graceMs?: number): Promise<void>;
  /** Release this handle without stopping a detached sandbox. */
  disconnect(): Promise<void>;
  run(code: string, opts?: RunOptions): Promise<Execution>;
  createContext(name: string, language?: Language): Promise<void>;
  resetContext(name?: string, language?: Language): Promise<void>;
  destroyContext(name: string, language?: Language): Promise<void>;
  listContexts(): Promise<ReplContext[]>;
  /** Interrupt the code running in a context now (state kept); resolves to whether code was running. */
  interrupt(name?: string, language?: Language): Promise<boolean>;
  [Symbol.asyncDispose](): Promise<void>;
}

export class PythonSandbox extends Sandbox {}
export class NodeSandbox extends Sandbox {}

export interface HostInfo {
  userNamespaces: boolean;
  cgroupVersion: number;
  cgroupHybrid: boolean;
  cgroupWritable: boolean;
  seccomp: boolean;
  kvm: boolean;
  kvmStandardGuest: boolean;
  autoBackend: 'os' | 'vm';
  kvmDetail: string;
  /** The vm backend can start here (KVM with VT-x/AMD-V, msb-vmm and images found). */
  vmReady: boolean;
  vmDetail: string;
}

export function hostInfo(): Promise<HostInfo>;

/** The addon itself; internal, not a stable interface. */
export const _native: Record<string, (...args: any[]) => any>;
