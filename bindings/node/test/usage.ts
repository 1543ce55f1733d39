// Type-checked by test/types.test.js when tsc is available.
import { PythonSandbox, NodeSandbox, Sandbox, MsbError, CommandExecution, Execution } from '..';

async function main(): Promise<void> {
  const sb = await PythonSandbox.create({ name: 'typed', hostname: 'web-1', memory: 256, cpus: 1 });
  const e: Execution = await sb.run('print(1)', { timeout: 5, onStdout: (s: string) => void s });
  const out: string = await e.output();
  const bad: boolean = e.hasError();
  const c: CommandExecution = await sb.command.run('ls', ['-l'], 10);
  const code: number = c.exitCode;
  const ok: boolean = c.success;
  const m = await sb.metrics.all();
  const mem: number = m.memory_usage;
  await sb.fs.write('x', 'y');
  const text: string = await sb.fs.read('x', { encoding: 'utf8' });
  const p = await sb.command.spawn('cat');
  for await (const chunk of p) void chunk.data.length;
  await p.release();
  const n: NodeSandbox = await NodeSandbox.create();
  await n.stop();
  {
    await using s2 = await Sandbox.create({ language: 'shell' });
    void s2.name;
  }
  try {
    await sb.stop();
  } catch (err) {
    if (err instanceof MsbError) void [err.code, err.hint];
  }
  void [out, bad, code, ok, mem, text];
}
void main;
