// lib.mjs - what the browser tests share: chromium, pages that record
// console errors, sign-in, screenshots, and API calls with a token.
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.SLUICE_CHROMIUM || '/usr/bin/chromium';
export const SHOTS = process.env.SLUICE_SCREENSHOTS ||
    path.join(path.dirname(new URL(import.meta.url).pathname), 'screenshots');
export const BUDGET = 150 * 1024;	// first load, bytes uncompressed
// The console's pages that need no run (against the real controller).
export const PAGES = ['#/runs', '#/approvals', '#/pipelines',
    '#/pipelines/demo', '#/repositories', '#/models'];

// What run.sh passes to the tests against the real controller: its URL,
// a token per role and the clone of the demo repository to push from.
export function controllerEnv() {
	const e = process.env;
	const env = { BASE: e.SLUICE_URL, ADMIN: e.SLUICE_ADMIN_TOKEN,
	    OPERATOR: e.SLUICE_OPERATOR_TOKEN, APPROVER: e.SLUICE_APPROVER_TOKEN,
	    VIEWER: e.SLUICE_VIEWER_TOKEN, WORK: e.SLUICE_DEMO_WORK };
	if (!Object.values(env).every(Boolean))
		throw new Error('run through tests/browser/run.sh');
	return env;
}

// Debian's chromium, headless.  playwright-core starts it with a fresh
// profile of its own (a temporary --user-data-dir, removed on close; it
// refuses the flag from us) and adds --headless itself.
export async function launch() {
	const browser = await chromium.launch({
		executablePath: CHROMIUM,
		headless: true,
		args: ['--no-sandbox', '--disable-gpu', '--disable-quic',
		    '--no-first-run', '--disable-background-networking',
		    '--disable-component-update', '--disable-sync'],
	});
	return { browser, close: () => browser.close() };
}

// A page in a new context (its own cookies and storage) that records
// console errors, page errors and requests to other hosts.  It prefers
// reduced motion, as the console's CSS allows: a running stage's pulse
// would otherwise have chromium paint 60 frames a second while a test
// watches a run, and no test looks at an animation.
export async function newPage(browser, base, { width = 1280, height = 900,
    colorScheme = 'light' } = {}) {
	const context = await browser.newContext({ viewport: { width, height },
	    colorScheme, reducedMotion: 'reduce', baseURL: base });
	const page = await context.newPage();
	const origin = new URL(base).origin;
	page.errors = [];
	page.foreign = [];
	// API requests on their way (not the event stream, which stays open)
	page.inflight = new Set();
	const api = r => {
		const u = new URL(r.url());
		return u.origin === origin && u.pathname.startsWith('/api/') &&
		    u.pathname !== '/api/v1/events';
	};
	page.on('request', r => {
		if (api(r))
			page.inflight.add(r);
	});
	for (const ev of ['requestfinished', 'requestfailed'])
		page.on(ev, r => page.inflight.delete(r));
	page.on('console', m => {
		if (m.type() === 'error')
			page.errors.push(m.text());
	});
	page.on('pageerror', e => page.errors.push('page error: ' + e.message));
	page.on('request', r => {
		const u = r.url();
		if (!u.startsWith(origin) && !u.startsWith('data:'))
			page.foreign.push(u);
	});
	page.setDefaultTimeout(30000);	// a deadline for a loaded machine
	return { context, page };
}

// Signed-in pages a test file keeps for its tests, one per token: a test
// borrows one instead of opening a context and loading the console again,
// which is most of what a short test costs.  A borrowed page has the
// width, height and colour scheme asked for, and empty lists of errors and
// foreign requests, so each test checks what happened during it.  Tests
// that change a page beyond navigating (document.hidden, a first load)
// open their own with newPage().
export function signedInPages(browser, base) {
	const open = new Map();
	return {
		async get(token, { width = 1280, height = 900,
		    colorScheme = 'light' } = {}) {
			let s = open.get(token);
			if (!s) {
				s = await newPage(browser, base, { width, height,
				    colorScheme });
				await signIn(s.page, token);
				open.set(token, s);
			}
			const { page } = s;
			const vp = page.viewportSize();
			if (vp.width !== width || vp.height !== height)
				await page.setViewportSize({ width, height });
			await page.emulateMedia({ colorScheme });
			page.errors.length = 0;
			page.foreign.length = 0;
			return page;
		},
		async close() {
			for (const s of open.values())
				await s.context.close();
			open.clear();
		},
	};
}

// Wait until the page has its answers: no API request on its way for
// 100 ms, and no list, card or error still "Loading" or "…".
export async function settled(page, timeoutMs = 30000) {
	const end = Date.now() + timeoutMs;
	let quietSince = null;
	for (;;) {
		const loading = await page.evaluate(() =>
		    [...document.querySelectorAll('main .muted')].some(e =>
			/^(Loading|…)/.test(e.textContent)));
		if (page.inflight.size || loading)
			quietSince = null;
		else if (quietSince === null)
			quietSince = Date.now();
		else if (Date.now() - quietSince >= 100)
			return;
		if (Date.now() > end)
			throw new Error(`the page is not settled after ${timeoutMs} ms ` +
			    `(${page.inflight.size} API requests on their way, ` +
			    `${loading ? 'something' : 'nothing'} loading)`);
		await new Promise(r => setTimeout(r, 25));
	}
}

// Go to a page of the console and wait for its answers: every list, card
// or error of the page has arrived.
// A page already there is loaded again (going to the same address would
// only scroll), as a first visit would show it.
export async function visit(page, hash) {
	const here = page.url();
	if (/^https?:/.test(here) && here === new URL('/' + hash, here).href)
		await page.reload();
	else
		await page.goto('/' + hash);
	await page.locator('main h1').first().waitFor();
	// every list, card or error of the page has arrived
	await page.waitForFunction(() => !document.querySelector('main .muted') ||
	    ![...document.querySelectorAll('main .muted')].some(e =>
		/^(Loading|…)/.test(e.textContent)));
}

export async function signIn(page, token) {
	await page.goto('/');
	await page.getByLabel('API token').fill(token);
	await page.getByRole('button', { name: 'Sign in' }).click();
	await page.locator('#who-name').waitFor({ state: 'visible' });
}

// A screenshot of what the page shows at its viewport's size: a full-page
// one lays out, paints and encodes the whole height again, which costs
// the tests several times the CPU for pictures nobody reads past the top.
export async function shot(page, name) {
	fs.mkdirSync(SHOTS, { recursive: true });
	await page.screenshot({ path: path.join(SHOTS, name + '.png') });
}

// Call the API with a bearer token; resolves to {status, body}.
export async function call(base, token, method, p, body) {
	const res = await fetch(base + p, {
		method,
		headers: { Authorization: 'Bearer ' + token,
		    'Content-Type': 'application/json' },
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	const text = await res.text();
	let json = null;
	try {
		json = text ? JSON.parse(text) : null;
	} catch {
		json = null;
	}
	return { status: res.status, body: json, text };
}

// Wait until fn() resolves to something truthy; fn's last error or value
// is in the message on timeout.
export async function until(fn, what, timeoutMs = 60000, everyMs = 250) {
	const end = Date.now() + timeoutMs;
	let last;
	for (;;) {
		try {
			const v = await fn();
			if (v)
				return v;
			last = v;
		} catch (e) {
			last = e;
		}
		if (Date.now() > end)
			throw new Error(`timed out waiting for ${what} (last: ${
			    last instanceof Error ? last.message : JSON.stringify(last)})`);
		await new Promise(r => setTimeout(r, everyMs));
	}
}

// Bytes of the console's own files that a first visit of hash loads,
// summed from the served Content-Length headers.
export async function firstLoadBytes(browser, base, hash, token) {
	const { context, page } = await newPage(browser, base);
	if (token)
		await signIn(page, token);
	await page.goto('about:blank');
	const sizes = new Map();
	const reading = [];	// the handlers still reading a body
	page.on('response', r => reading.push((async () => {
		const u = new URL(r.url());
		if (u.origin !== new URL(base).origin || u.pathname.startsWith('/api/'))
			return;
		const len = Number(r.headers()['content-length']);
		sizes.set(u.pathname, Number.isFinite(len) ? len :
		    (await r.body()).length);
	})()));
	await page.goto(base + '/' + hash, { waitUntil: 'networkidle' });
	await Promise.allSettled(reading);
	await context.close();
	return { total: [...sizes.values()].reduce((a, b) => a + b, 0), sizes };
}

// What does not fit on the page: each visible table whose right edge is
// past the visible area of its card (or of main) without a scroll wrapper
// (overflow-x auto or scroll) that itself fits, and each card whose
// content is wider than the card.  An empty list when everything fits.
export async function overflows(page) {
	return page.evaluate(() => {
		const out = [];
		const main = document.querySelector('main');
		const scrolls = el => /^(auto|scroll)$/.test(
		    getComputedStyle(el).overflowX);
		const name = el => el.id ? '#' + el.id : el.tagName.toLowerCase() +
		    (el.className && typeof el.className === 'string' ?
		    '.' + el.className.trim().split(/\s+/).join('.') : '');
		const where = el => {
			const c = el.querySelector('caption');
			return c ? `table "${c.textContent}"` : name(el);
		};
		// The right edge of what el shows: its padding box.
		const visibleRight = el => el.getBoundingClientRect().left +
		    el.clientLeft + el.clientWidth;
		for (const t of main.querySelectorAll('table')) {
			if (!t.getClientRects().length)
				continue;	// not shown
			const box = t.closest('.card') || main;
			let wrap = null;
			for (let e = t.parentElement; e && e !== box; e = e.parentElement)
				if (scrolls(e)) {
					wrap = e;
					break;
				}
			const limit = visibleRight(box) + 0.5;
			const el = wrap || t;
			const right = el.getBoundingClientRect().right;
			if (right > limit)
				out.push(`${where(t)}${wrap ? ' (in its scroll wrapper)' :
				    ''} ends ${Math.round(right - limit)} px past ` +
				    name(box));
		}
		for (const c of main.querySelectorAll('.card')) {
			if (!c.getClientRects().length || !c.querySelector('table'))
				continue;
			if (c.scrollWidth > c.clientWidth + 1)
				out.push(`${name(c)} holds content ` +
				    `${c.scrollWidth - c.clientWidth} px wider than itself`);
		}
		return out;
	});
}
