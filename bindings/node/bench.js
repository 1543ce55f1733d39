'use strict';
// bench.js - the cost of the binding: sb.command.run('true') from
// JavaScript against the same msb_command_run() looped in C (inside one
// async work of the addon), in the same sandbox, in the same run.
//
//   node bench.js [iterations per round] [rounds]
const { Sandbox, _native } = require('.');

const N = Number(process.argv[2] || 300);
const ROUNDS = Number(process.argv[3] || 5);
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];

(async () => {
  const sb = await Sandbox.create();
  try {
    const h = sb._handle();
    for (let i = 0; i < 50; i++) await sb.command.run('true'); // warm up
    await _native._benchC(h, ['true'], 50);
    const js = [], c = [];
    for (let r = 0; r < ROUNDS; r++) {
      // alternate, so drift on the machine hits both alike
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < N; i++) {
        const res = await sb.command.run('true');
        if (res.exitCode !== 0) throw new Error('true failed');
      }
      js.push(Number(process.hrtime.bigint() - t0) / N / 1000);
      c.push((await _native._benchC(h, ['true'], N)) / N / 1000);
    }
    const mj = median(js), mc = median(c);
    console.log(`command.run('true'), ${ROUNDS} rounds of ${N}, median per call:`);
    console.log(`  C   msb_command_run      ${mc.toFixed(1)} us`);
    console.log(`  JS  sb.command.run        ${mj.toFixed(1)} us`);
    console.log(`  ratio JS/C                ${(mj / mc).toFixed(3)}x (target <= 1.2x)`);
    console.log(JSON.stringify({ bench: 'node-command-run-true', n: N, rounds: ROUNDS, c_us: +mc.toFixed(1), js_us: +mj.toFixed(1), ratio: +(mj / mc).toFixed(3) }));
  } finally {
    await sb.stop();
  }
})().catch((e) => { console.error(e); process.exit(1); });
