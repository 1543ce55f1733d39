'use strict';
const fs = require('node:fs');

/** Pids of every process descended from this one. */
function descendants(root = process.pid) {
  const children = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let stat;
    try { stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8'); } catch { continue; }
    // pid (comm) state ppid ...: comm may hold spaces and parentheses
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(Number(d));
  }
  const out = [];
  const todo = [root];
  while (todo.length) {
    for (const c of children.get(todo.pop()) || []) {
      out.push(c);
      todo.push(c);
    }
  }
  return out;
}

const fdCount = () => fs.readdirSync('/proc/self/fd').length;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Why sandboxes cannot run here, or '' when they can. */
async function cannotRun() {
  try {
    const { hostInfo } = require('..');
    const h = await hostInfo();
    if (!h.userNamespaces) return 'no user namespaces on this host';
    return '';
  } catch (e) {
    return `addon not loadable: ${e.message}`;
  }
}

module.exports = { descendants, fdCount, sleep, cannotRun };
