// api.js - the console's client of the REST API (docs/api.yaml).
//
// Requests go to the same origin with the session cookie (HttpOnly, set
// by POST /api/v1/session).  Writes carry the CSRF token that sign-in
// returned, kept in localStorage so every tab of the console can write;
// it is useless to another site, which cannot read it.  An error answer
// {"error": {"code", "message"}} becomes an ApiError; 401 (and a refused
// CSRF token) also tell the app to show the sign-in page.

const CSRF_KEY = 'sluice.csrf';

export class ApiError extends Error {
	constructor(status, code, message) {
		super(message);
		this.name = 'ApiError';
		this.status = status;
		this.code = code;
	}
}

let onSignedOut = () => {};

// fn(err) runs when the API says the session is gone (401, or 403 csrf).
export function setSignedOutHandler(fn) {
	onSignedOut = fn;
}

export function hasSession() {
	try {
		return Boolean(localStorage.getItem(CSRF_KEY));
	} catch {
		return false;
	}
}

function setCsrf(token) {
	try {
		if (token)
			localStorage.setItem(CSRF_KEY, token);
		else
			localStorage.removeItem(CSRF_KEY);
	} catch {
		// storage disabled: writes will be refused with "csrf"
	}
}

function csrf() {
	try {
		return localStorage.getItem(CSRF_KEY) || '';
	} catch {
		return '';
	}
}

// Forget the session locally (another tab may have signed out).
export function forget() {
	setCsrf(null);
}

// Watch for sign-out (or sign-in) in another tab.
export function onOtherTab(fn) {
	window.addEventListener('storage', e => {
		if (e.key === CSRF_KEY || e.key === null)
			fn(Boolean(e.newValue));
	});
}

async function errorOf(res) {
	let code = 'http_' + res.status, message = res.status + ' ' +
	    res.statusText;
	try {
		const body = await res.json();
		if (body && body.error) {
			code = String(body.error.code ?? code);
			message = String(body.error.message ?? message);
		}
	} catch {
		// not JSON: keep the status line
	}
	return new ApiError(res.status, code, message);
}

// Make one request; resolve to the parsed JSON (null for 204), or reject
// with an ApiError (code "network" when the controller cannot be reached).
export async function request(method, path, body, { signal, raw } = {}) {
	const headers = { Accept: raw ? 'text/plain' : 'application/json' };
	const init = { method, headers, credentials: 'same-origin',
	    cache: 'no-store', signal };
	if (method !== 'GET' && method !== 'HEAD') {
		headers['Content-Type'] = 'application/json';
		headers['X-CSRF-Token'] = csrf();
		init.body = JSON.stringify(body ?? {});
	}
	let res;
	try {
		res = await fetch(path, init);
	} catch (e) {
		if (e && e.name === 'AbortError')
			throw e;
		throw new ApiError(0, 'network',
		    'cannot reach the controller (' + (e && e.message) + ')');
	}
	if (!res.ok) {
		const err = await errorOf(res);
		if (res.status === 401 || (res.status === 403 &&
		    err.code === 'csrf')) {
			setCsrf(null);
			onSignedOut(err);
		}
		throw err;
	}
	if (raw)
		return res;
	if (res.status === 204)
		return null;
	const text = await res.text();
	if (!text)
		return null;
	try {
		return JSON.parse(text);
	} catch {
		throw new ApiError(res.status, 'bad_answer',
		    'the controller answered something that is not JSON');
	}
}

export const get = (path, opts) => request('GET', path, undefined, opts);
export const post = (path, body, opts) => request('POST', path, body, opts);
export const del = (path, opts) => request('DELETE', path, undefined, opts);

// A path with query parameters; empty values are left out.
export function withQuery(path, params) {
	const q = new URLSearchParams();
	for (const [k, v] of Object.entries(params || {}))
		if (v !== undefined && v !== null && v !== '')
			q.set(k, String(v));
	const qs = q.toString();
	return qs ? path + '?' + qs : path;
}

// Path segment from a name.
export const seg = v => encodeURIComponent(String(v));

// ---- session ------------------------------------------------------------

export async function signIn(token) {
	const s = await request('POST', '/api/v1/session', { token });
	setCsrf(s.csrf_token);
	return { name: s.name, role: s.role, expires_at: s.expires_at };
}

export async function whoAmI() {
	return get('/api/v1/session');
}

export async function signOut() {
	try {
		await request('DELETE', '/api/v1/session');
	} finally {
		setCsrf(null);
	}
}

// ---- roles --------------------------------------------------------------

const ROLES = ['viewer', 'operator', 'approver', 'admin'];

// Does role hold at least the role needed (viewer < operator < approver <
// admin)?  Unknown roles hold nothing.
export function roleAtLeast(role, needed) {
	const have = ROLES.indexOf(role), need = ROLES.indexOf(needed);
	return have >= 0 && need >= 0 && have >= need;
}
