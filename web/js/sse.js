// sse.js - one EventSource on GET /api/v1/events for the whole console.
//
// Events are "run", "stage" and "approval", each with JSON data naming
// the run ({"id": 1234, "type": "stage", "run": 42, "entity": 97, ...}).  Pages subscribe with on() and
// refetch what they show; they never patch the page from an event.  The
// browser reconnects by itself after a dropped connection; when it gives
// up (an error answer), we try again with backoff up to 30 s.  After any
// reconnection "open" is delivered, since events may have been missed.

const TYPES = ['run', 'stage', 'approval'];
const listeners = new Map();	// type → Set of functions
let source = null, timer = null, backoff = 1000, wanted = false;
let stateFn = () => {};

// fn(state) with state "live", "connecting" or "offline".
export function onState(fn) {
	stateFn = fn;
}

// Subscribe fn(data, type) to type ("run", "stage", "approval", "open",
// or "*" for all three kinds of change); returns the unsubscribe function.
export function on(type, fn) {
	if (!listeners.has(type))
		listeners.set(type, new Set());
	listeners.get(type).add(fn);
	return () => listeners.get(type).delete(fn);
}

function emit(type, data) {
	for (const key of [type, type === 'open' ? null : '*']) {
		for (const fn of listeners.get(key) || []) {
			try {
				fn(data, type);
			} catch (e) {
				console.warn('event listener failed', e);
			}
		}
	}
}

function connect() {
	timer = null;
	if (!wanted || source)
		return;
	stateFn('connecting');
	const es = new EventSource('/api/v1/events', { withCredentials: true });
	source = es;
	es.onopen = () => {
		backoff = 1000;
		stateFn('live');
		emit('open', null);
	};
	es.onerror = () => {
		if (es.readyState !== EventSource.CLOSED) {
			stateFn('connecting');	// the browser retries
			return;
		}
		es.close();
		if (source === es)
			source = null;
		stateFn('offline');
		if (wanted && !timer) {
			timer = setTimeout(connect, backoff);
			backoff = Math.min(backoff * 2, 30000);
		}
	};
	for (const type of TYPES) {
		es.addEventListener(type, e => {
			let data = null;
			try {
				data = JSON.parse(e.data);
			} catch {
				data = null;
			}
			emit(type, data && typeof data === 'object' ? data : {});
		});
	}
}

export function start() {
	wanted = true;
	connect();
}

export function stop() {
	wanted = false;
	clearTimeout(timer);
	timer = null;
	if (source) {
		source.close();
		source = null;
	}
	stateFn('offline');
}

// The run id an event is about, as a string ("" when none).
export function runOf(data) {
	return data && data.run !== null && data.run !== undefined ?
	    String(data.run) : '';
}
