// app.js - the console's shell: session, hash routes, header, live state.
//
// Routes (one page module each, loaded when first visited):
//   #/runs  #/runs/42  #/runs/42/stages/train  #/approvals  #/pipelines
//   #/pipelines/NAME  #/repositories  #/models  #/models/NAME
//   #/commits/SHA (everything from a commit; the header's search box)
// A page module exports mount(ctx) and may return {update(ctx) → bool,
// unmount()}; update() lets a page take a new route of its own (another
// filter, another stage) without being built again.

import * as api from './api.js';
import * as sse from './sse.js';
import * as search from './search.js';
import { h, replace, tick } from './render.js';

const ROUTES = [
	[/^\/runs$/, 'runs', []],
	[/^\/runs\/(\d+)(?:\/stages\/([^/]+))?$/, 'run', ['id', 'stage']],
	[/^\/approvals$/, 'approvals', []],
	[/^\/pipelines$/, 'pipelines', []],
	[/^\/pipelines\/([^/]+)$/, 'pipelines', ['name']],
	[/^\/repositories$/, 'repositories', []],
	[/^\/models$/, 'models', []],
	[/^\/models\/([^/]+)$/, 'models', ['name']],
	[/^\/commits\/([0-9a-fA-F]{7,64})$/, 'commit', ['sha']],
];

const $ = id => document.getElementById(id);
const main = $('main');

let session = null;		// {name, role} once signed in
let current = null;		// {key, page, instance}
let navSeq = 0;

function parseHash() {
	const raw = location.hash.replace(/^#/, '') || '/runs';
	const qi = raw.indexOf('?');
	const path = qi < 0 ? raw : raw.slice(0, qi);
	const query = new URLSearchParams(qi < 0 ? '' : raw.slice(qi + 1));
	for (const [re, page, names] of ROUTES) {
		const m = re.exec(path);
		if (!m)
			continue;
		const params = {};
		names.forEach((n, i) => {
			if (m[i + 1] !== undefined) {
				try {
					params[n] = decodeURIComponent(m[i + 1]);
				} catch {
					params[n] = m[i + 1];
				}
			}
		});
		return { page, params, query, path };
	}
	return { page: null, params: {}, query, path };
}

// Go to a console route ("#/runs/42"); replace keeps history clean for
// filter changes.
export function navigate(hash, { replace: rep = false } = {}) {
	if (location.hash === hash)
		return;
	if (rep)
		history.replaceState(null, '', hash);
	else
		location.hash = hash;
	if (rep)
		route();
}

export function toast(text) {
	const t = $('toast');
	t.textContent = text;
	t.classList.add('show');
	clearTimeout(toast.timer);
	toast.timer = setTimeout(() => t.classList.remove('show'), 4000);
}

function context(r) {
	return {
		el: main,
		params: r.params,
		query: r.query,
		session,
		can: needed => Boolean(session) &&
		    api.roleAtLeast(session.role, needed),
		navigate,
		toast,
		title: text => {
			document.title = text ? text + ' · Sluice' : 'Sluice';
		},
	};
}

function markNav(page) {
	const section = page === 'run' ? 'runs' : page;
	for (const a of document.querySelectorAll('#nav a')) {
		if (a.dataset.section === section)
			a.setAttribute('aria-current', 'page');
		else
			a.removeAttribute('aria-current');
	}
}

function unmountCurrent() {
	if (current && current.instance && current.instance.unmount) {
		try {
			current.instance.unmount();
		} catch (e) {
			console.warn('unmount failed', e);
		}
	}
	current = null;
}

async function route() {
	const seq = ++navSeq;
	if (!session)
		return;
	const r = parseHash();
	markNav(r.page);
	if (!r.page) {
		unmountCurrent();
		replace(main, h('h1', {}, 'Not found'),
		    h('p', {}, 'There is no page here. ',
			h('a', { href: '#/runs' }, 'See the runs'), '.'));
		document.title = 'Not found · Sluice';
		return;
	}
	const ctx = context(r);
	if (current && current.page === r.page && current.instance &&
	    current.instance.update && current.instance.update(ctx))
		return;
	unmountCurrent();
	let mod;
	try {
		mod = await import('./pages/' + r.page + '.js');
	} catch (e) {
		replace(main, h('p', { class: 'error', role: 'alert' },
		    'Cannot load this page: ' + e.message));
		return;
	}
	if (seq !== navSeq)
		return;
	replace(main);
	const instance = mod.mount(ctx) || null;
	current = { page: r.page, instance };
	main.focus({ preventScroll: true });
	window.scrollTo(0, 0);
}

// ---- session ------------------------------------------------------------

function showShell() {
	$('nav').hidden = false;
	$('search').hidden = false;
	$('who').hidden = false;
	$('who-name').textContent = session.name;
	const role = $('who-role');
	role.textContent = session.role;
	role.className = 'role role-' + (/^[a-z]+$/.test(session.role) ?
	    session.role : 'unknown');
	role.title = 'Your role';
	document.body.dataset.role = session.role;
}

function hideShell() {
	$('nav').hidden = true;
	$('search').hidden = true;
	$('who').hidden = true;
	delete document.body.dataset.role;
}

async function showSignIn(message) {
	const seq = ++navSeq;
	session = null;
	sse.stop();
	unmountCurrent();
	hideShell();
	markNav(null);
	const mod = await import('./pages/signin.js');
	if (seq !== navSeq)
		return;
	replace(main);
	current = { page: 'signin', instance: mod.mount({
		el: main, message, title: t => {
			document.title = t + ' · Sluice';
		},
		signedIn: s => startSession(s),
	}) };
}

function startSession(s) {
	session = { name: String(s.name ?? ''), role: String(s.role ?? '') };
	showShell();
	sse.start();
	pendingCount();
	route();
}

// The number of pending approvals, in the header.
async function pendingCount() {
	const el = $('pending-count');
	try {
		const data = await api.get('/api/v1/approvals?status=pending&limit=100');
		const n = data.approvals.length;
		el.hidden = n === 0;
		el.textContent = n > 99 ? '99+' : String(n);
		el.setAttribute('aria-label', n + ' pending');
	} catch {
		el.hidden = true;
	}
}
const pendingSoon = (() => {
	let t = null;
	return () => {
		clearTimeout(t);
		t = setTimeout(pendingCount, 500);
	};
})();

async function signOut() {
	try {
		await api.signOut();
	} catch (e) {
		// already signed out on the server: fine
	}
	showSignIn('You are signed out.');
}

async function boot() {
	api.setSignedOutHandler(err => {
		if (session)
			showSignIn(err.code === 'csrf' ?
			    'Your session cannot write from here any more; ' +
			    'please sign in again.' :
			    'Your session has ended; please sign in again.');
	});
	api.onOtherTab(signedIn => {
		if (!signedIn && session)
			showSignIn('You signed out in another tab.');
		else if (signedIn && !session)
			location.reload();
	});
	sse.onState(state => {
		const live = $('live');
		live.dataset.state = state;
		live.textContent = state === 'live' ? 'Live' :
		    state === 'connecting' ? 'Connecting…' : 'Offline';
		live.title = state === 'live' ?
		    'Updates arrive as they happen' :
		    'Not receiving live updates; retrying';
	});
	sse.on('approval', pendingSoon);
	sse.on('open', pendingSoon);
	$('signout').addEventListener('click', signOut);
	search.attach($('search'), navigate);
	$('skip').addEventListener('click', e => {
		e.preventDefault();
		main.focus();
	});
	window.addEventListener('hashchange', route);
	setInterval(() => tick(main), 1000);

	if (!api.hasSession()) {
		showSignIn();
		return;
	}
	try {
		startSession(await api.whoAmI());
	} catch (e) {
		if (e.status === 401)
			showSignIn('Your session has ended; please sign in again.');
		else
			showSignIn('Cannot reach the controller: ' + e.message);
	}
}

boot();
