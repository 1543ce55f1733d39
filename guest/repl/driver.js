// msb REPL driver for Node.js (run as `node --expose-internals -e <this>`
// by msb-agent).
//
// Requests come on fd 3, responses go to fd 4, both framed as
//   <decimal length> "\n" <payload>
// A request's payload is the code (UTF-8); a response's is one JSON object:
// {"status": "ok"|"error"|"timeout", "value": str, "error": {"type",
// "message", "traceback"} | null, "outputs": []}. The code's own output goes
// to fd 1 and 2 (pipes: synchronous writes on Linux), never to fd 4.
//
// The code runs in the main context (vm.runInThisContext), so require,
// process and console are there as in `node -e`, and top-level let, const,
// class and function declarations persist between runs. Code with a
// top-level `await` is rewritten as Node's own REPL does it
// (internal/repl/await: declarations become outer `let`s, `const` becomes
// `let`); without that module it runs in an async function and its
// declarations stay local to the run. A timeout (SIGINT) interrupts
// synchronous code (breakOnSigint) and stops waiting for a pending await
// (the awaited work itself keeps running in the background).
(function () {
	'use strict';
	const fs = require('fs');
	const vm = require('vm');
	const util = require('util');

	// Reopen both pipes close-on-exec (libuv opens everything O_CLOEXEC)
	// and drop fds 3 and 4, so that child processes never inherit them.
	const rfd = fs.openSync('/proc/self/fd/3', 'r');
	const wfd = fs.openSync('/proc/self/fd/4', 'w');
	fs.closeSync(3);
	fs.closeSync(4);

	const MAX_VALUE = 256 * 1024;
	const MAX_TEXT = 64 * 1024;
	let tla = null;
	try {
		tla = require('internal/repl/await').processTopLevelAwait;
	} catch (e) {
		tla = null;
	}

	// Stay alive while a run awaits something that holds no handle (a
	// promise that never settles): only EOF on fd 3 ends the driver.
	setInterval(() => {}, 1 << 30);

	let interrupt = null; // rejects the pending await of a run
	process.on('SIGINT', () => {
		if (interrupt)
			interrupt();
	});
	// Errors of background work must not end the interpreter.
	process.on('uncaughtException', (e) => {
		try {
			process.stderr.write('Uncaught ' + util.inspect(e) + '\n');
		} catch (e2) { /* nothing */ }
	});
	process.on('unhandledRejection', (e) => {
		try {
			process.stderr.write('Unhandled rejection: ' + util.inspect(e) + '\n');
		} catch (e2) { /* nothing */ }
	});

	function clean(s, cap) {
		s = String(s);
		if (s.length > cap)
			s = s.slice(0, cap) + '\n... (truncated)';
		return typeof s.toWellFormed === 'function' ? s.toWellFormed() :
			s.replace(/[\ud800-\udfff]/g, '\ufffd');
	}

	function send(obj) {
		const body = Buffer.from(JSON.stringify(obj));
		let buf = Buffer.concat([Buffer.from(body.length + '\n'), body]);
		while (buf.length) {
			const n = fs.writeSync(wfd, buf);
			buf = buf.subarray(n);
		}
	}

	// The stack without the driver's frames: up to the cell's last frame
	// (or, for a syntax error, without Node's internal frames).
	function stackOf(e) {
		if (!e || typeof e.stack !== 'string')
			return '';
		const lines = e.stack.split('\n');
		let last = -1;
		lines.forEach((l, i) => {
			if (/^\s+at /.test(l) && l.includes('<cell '))
				last = i;
		});
		const out = lines.filter((l, i) => !/^\s+at /.test(l) ||
			(last >= 0 ? i <= last : !/node:|\[eval/.test(l)));
		return out.join('\n') + '\n';
	}

	function errorOf(e) {
		const isObj = e !== null && (typeof e === 'object' || typeof e === 'function');
		let type, message;
		try {
			type = isObj && e.name ? String(e.name) : typeof e;
			message = isObj && 'message' in e ? String(e.message) : util.inspect(e);
		} catch (e2) {
			type = 'Error';
			message = '(an exception that cannot be shown)';
		}
		let tb = '';
		try {
			tb = stackOf(e);
			if (!tb)
				tb = 'Uncaught ' + util.inspect(e) + '\n';
		} catch (e2) { /* nothing */ }
		return { type: clean(type, 256), message: clean(message, MAX_TEXT),
			 traceback: clean(tb, MAX_TEXT) };
	}

	let cells = 0;

	async function run(code) {
		const filename = '<cell ' + (++cells) + '>';
		const res = { status: 'ok', value: '', error: null, outputs: [] };
		try {
			let wrapped = null;
			if (/\bawait\b/.test(code)) {
				if (tla) {
					try {
						wrapped = tla(code);
					} catch (e) {
						wrapped = null; // a syntax error: reported below
					}
				} else {
					wrapped = '(async () => { ' + code + '\n})()';
				}
			}
			let v = vm.runInThisContext(wrapped === null ? code : wrapped,
						    { filename, breakOnSigint: true,
						      displayErrors: false });
			if (wrapped !== null) {
				v = await new Promise((resolve, reject) => {
					interrupt = () => {
						const e = new Error('Script execution interrupted.');
						e.code = 'ERR_SCRIPT_EXECUTION_INTERRUPTED';
						reject(e);
					};
					Promise.resolve(v).then(resolve, reject);
				});
				v = tla && v && typeof v === 'object' ? v.value : undefined;
			}
			if (v !== undefined) {
				globalThis._ = v;
				res.value = clean(util.inspect(v), MAX_VALUE);
			}
		} catch (e) {
			if (e && e.code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED') {
				res.status = 'timeout';
				res.error = { type: 'Interrupted',
					      message: 'interrupted (SIGINT: the timeout or msb_repl_interrupt)',
					      traceback: '' };
			} else {
				res.status = 'error';
				res.error = errorOf(e);
			}
		} finally {
			interrupt = null;
		}
		return res;
	}

	// Requests are read asynchronously so that timers and promises the
	// code left behind keep running between runs.
	let pending = Buffer.alloc(0);
	let busy = false;
	const chunk = Buffer.alloc(1 << 20);

	function nextRequest() {
		const nl = pending.indexOf(10);
		if (nl < 0)
			return pending.length > 20 ? false : null;
		const n = Number(pending.subarray(0, nl).toString());
		if (!Number.isSafeInteger(n) || n < 0)
			return false;
		if (pending.length < nl + 1 + n)
			return null;
		const code = pending.subarray(nl + 1, nl + 1 + n).toString('utf8');
		pending = pending.subarray(nl + 1 + n);
		return code;
	}

	async function pump() {
		if (busy)
			return;
		busy = true;
		for (;;) {
			const code = nextRequest();
			if (code === false)
				process.exit(2);
			if (code === null)
				break;
			const res = await run(code);
			send(res);
		}
		busy = false;
		readMore();
	}

	function readMore() {
		fs.read(rfd, chunk, 0, chunk.length, null, (err, n) => {
			if (err && (err.code === 'EAGAIN' || err.code === 'EINTR'))
				return readMore();
			if (err || n === 0)
				process.exit(0);
			pending = Buffer.concat([pending, chunk.subarray(0, n)]);
			pump();
		});
	}
	readMore();
})();
