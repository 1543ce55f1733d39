'use strict';
// index.d.ts matches index.js: every declared export, class member and
// static exists at run time, and every public run-time member is
// declared. When a TypeScript compiler is on PATH, a usage file is also
// type-checked against the declarations (offline: none is installed).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const msb = require('..');

const dts = fs.readFileSync(path.join(__dirname, '..', 'index.d.ts'), 'utf8');

/** { name: { statics: Set, members: Set } } from `export class` blocks. */
function declaredClasses() {
  const out = {};
  const re = /^export class (\w+)(?: extends (\w+))?[^{\n]*\{(\}$|[\s\S]*?^\})/gm;
  for (let m; (m = re.exec(dts));) {
    const statics = new Set();
    const members = new Set();
    // Drop comments, then everything inside (...), <...> and {...}, so a
    // declaration spread over lines is one statement.
    let body = m[3].slice(0, -1).replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
    for (let prev; prev !== body;) {
      prev = body;
      body = body.replace(/\([^()]*\)/g, '()').replace(/\{[^{}]*\}/g, '{}').replace(/<[^<>]*>/g, '');
    }
    for (const stmt of body.split(';')) {
      const l = stmt.trim();
      if (!l) continue;
      const sm = /^static (\w+)/.exec(l);
      if (sm) { statics.add(sm[1]); continue; }
      if (/^\[Symbol\.asyncIterator\]/.test(l)) members.add('@@asyncIterator');
      if (/^\[Symbol\.asyncDispose\]/.test(l)) members.add('@@asyncDispose');
      const mm = /^(?:readonly )?(\w+)[?]?\s*[(:]/.exec(l);
      if (mm && mm[1] !== 'constructor') members.add(mm[1]);
    }
    out[m[1]] = { statics, members, parent: m[2] };
  }
  // Inherited declarations count too.
  for (const c of Object.values(out)) {
    for (let p = out[c.parent]; p; p = out[p.parent]) {
      for (const x of p.members) c.members.add(x);
      for (const x of p.statics) c.statics.add(x);
    }
  }
  return out;
}

test('every export declared in index.d.ts exists, and the other way round', () => {
  const declared = new Set([...dts.matchAll(/^export (?:class|function|const) (\w+)/gm)].map((m) => m[1]));
  for (const name of declared) assert.ok(name in msb, `${name} is declared but not exported`);
  for (const name of Object.keys(msb)) assert.ok(declared.has(name), `${name} is exported but not declared`);
});

test('class members in index.d.ts exist at run time, and public ones are declared', () => {
  const classes = declaredClasses();
  const sym = (n) => (n === '@@asyncIterator' ? Symbol.asyncIterator
    : n === '@@asyncDispose' ? (Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')) : n);
  const sb = new msb.PythonSandbox({ name: 'types' });
  const instances = {
    Sandbox: sb, PythonSandbox: sb, NodeSandbox: new msb.NodeSandbox(),
    Command: sb.command, Metrics: sb.metrics, Files: sb.fs, Pty: sb.pty,
    MsbError: new msb.MsbError('x', { code: 'MSB_ERROR', errno: -1, hint: '', osErrno: 0 }),
    Execution: new msb.Execution({ status: 'success', stdout: Buffer.from(''), stderr: Buffer.from(''),
      value: Buffer.from(''), errorType: '', errorMessage: '', traceback: Buffer.from(''), outputs: [],
      stateLost: false, elapsedMs: 0, stdoutTruncated: false, stderrTruncated: false,
      valueTruncated: false }, 'python'),
    CommandExecution: new msb.CommandExecution({ exitCode: 0, signal: 0, timedOut: false, elapsedMs: 0,
      stdout: Buffer.from(''), stderr: Buffer.from(''), stdoutTruncated: false, stderrTruncated: false }, 'true', []),
  };
  for (const [name, { statics, members }] of Object.entries(classes)) {
    const cls = msb[name];
    assert.equal(typeof cls, 'function', `${name} is a class`);
    for (const s of statics) assert.ok(s in cls, `static ${name}.${s} is declared but missing`);
    const inst = instances[name];
    for (const m of members) {
      if (inst) assert.ok(sym(m) in inst, `${name}.${m} is declared but missing`);
      else {
        // No instance to look at: a field must be set in the constructor.
        assert.ok(sym(m) in cls.prototype || cls.toString().includes(`this.${m} =`),
          `${name}.${m} is declared but missing`);
      }
    }
    // Public prototype methods and getters must be declared.
    for (let p = cls.prototype; p && p !== Object.prototype && p !== Error.prototype; p = Object.getPrototypeOf(p)) {
      for (const key of Object.getOwnPropertyNames(p)) {
        if (key === 'constructor' || key.startsWith('_')) continue;
        const owner = Object.values(classes).some((c) => c.members.has(key));
        assert.ok(owner, `${name}.${key} exists but is not declared`);
      }
    }
    if (inst) {
      for (const key of Object.keys(inst)) {
        if (key.startsWith('_')) continue;
        assert.ok(members.has(key) || classes.Error?.members.has(key) || ['message', 'name'].includes(key),
          `${name} instance property ${key} is not declared`);
      }
    }
  }
});

test('a usage file type-checks with tsc', (t) => {
  let tsc;
  try {
    tsc = execFileSync('sh', ['-c', 'command -v tsc'], { encoding: 'utf8' }).trim();
  } catch {
    return t.skip('no TypeScript compiler on PATH (npm test is offline, with no dependencies)');
  }
  execFileSync(tsc, ['--noEmit', '--strict', '--target', 'es2022', '--module', 'commonjs',
    '--lib', 'es2022,esnext.disposable', '--types', 'node', path.join(__dirname, 'usage.ts')], { stdio: 'inherit' });
});
