// live.js - how a page keeps what it shows fresh, and stops doing so when
// it is left: the lifecycle every page shares.
//
//   const life = live(async signal => { ...fetch with signal, render... },
//       { events: ['run'], wait: 400, fail: e => replace(box, errorBox(e)) });
//   life.now();			// load at once
//   return { unmount: life.stop };
//
// load(signal) gets a signal aborted when a newer load starts or the page
// is left; an error it throws goes to fail(e) unless that load was
// aborted.  Options:
//   events  SSE types ("run", "stage", "approval", "*") that refetch,
//           debounced by wait ms; a reconnection ("open") refetches too,
//           since events may have been missed
//   match   (data, type) → whether an event is about this page
//   every   ms between loads (for what sends no events), counted from
//           the end of the last load
// While the tab is hidden nothing is fetched: a load that falls due then
// waits, and runs once when the tab is shown again.
import * as sse from './sse.js';
import { h, append, replace, errorBox, debounce } from './render.js';

export function live(load, { events = [], match = null, wait = 300,
    every = 0, fail = null } = {}) {
	const life = new AbortController();
	let current = null, timer = null, due = false;
	const cleanups = [];

	function schedule() {
		clearTimeout(timer);
		timer = every && !life.signal.aborted ?
		    setTimeout(now, every) : null;
	}

	async function now() {
		clearTimeout(timer);
		timer = null;
		if (life.signal.aborted)
			return;
		if (document.hidden) {
			due = true;
			return;
		}
		due = false;
		if (current)
			current.abort();
		const ac = current = new AbortController();
		try {
			await load(ac.signal);
		} catch (e) {
			if (!ac.signal.aborted && e.name !== 'AbortError') {
				if (fail)
					fail(e);
				else
					console.warn('cannot refresh the page', e);
			}
		}
		if (ac === current)
			schedule();
	}

	const soon = debounce(now, wait);

	if (events.length) {
		for (const type of events)
			cleanups.push(sse.on(type, (data, t) => {
				if (!match || match(data, t))
					soon();
			}));
		cleanups.push(sse.on('open', soon));
	}
	const onVisible = () => {
		if (!document.hidden && due)
			now();
	};
	document.addEventListener('visibilitychange', onVisible);
	cleanups.push(() => document.removeEventListener('visibilitychange',
	    onVisible));

	return {
		now,
		soon: () => soon(),
		// Aborted when the page is left (for fetches outside load).
		signal: life.signal,
		// Run fn too when the page is left.
		onStop(fn) {
			cleanups.push(fn);
		},
		// Add a listener that goes when the page is left.
		listen(target, type, fn) {
			target.addEventListener(type, fn);
			cleanups.push(() => target.removeEventListener(type, fn));
		},
		stop() {
			life.abort();
			clearTimeout(timer);
			soon.cancel();
			if (current)
				current.abort();
			for (const fn of cleanups.splice(0)) {
				try {
					fn();
				} catch (e) {
					console.warn('cleanup failed', e);
				}
			}
		},
	};
}

// A page that is one list under a title (#/pipelines, #/models), drawn by
// fill(box, signal) and refreshed on run events; it takes its own route
// again (update), not one of a single item (params.name).
export function listPage(ctx, title, fill) {
	ctx.title(title);
	const box = h('div', {});
	append(ctx.el, h('div', { class: 'page-head' }, h('h1', {}, title)),
	    box);
	const life = live(signal => fill(box, signal), { events: ['run'],
	    wait: 1000, fail: e => replace(box, errorBox(e)) });
	life.now();
	return {
		update(next) {
			return !next.params.name && (life.now(), true);
		},
		unmount: life.stop,
	};
}
