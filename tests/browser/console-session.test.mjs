// console-session.test.mjs - the console against the real controller of
// run.sh, beside console.test.mjs (which follows the demo's runs): every
// route the console uses is there; sign in and out; the strict CSP and the
// first-load budget; no console errors and no request to another host.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { controllerEnv, launch, newPage, shot, call, signIn,
    firstLoadBytes, BUDGET, PAGES } from './lib.mjs';

const { BASE, ADMIN, APPROVER, VIEWER } = controllerEnv();

// Is a route of the console in the build?  A missing one is answered 404
// "no route"; a present one 403 to a viewer's write, or 200, 404 "no
// such run"...
async function route(method, p) {
	const r = await call(BASE, VIEWER, method, p, method === 'GET' ?
	    undefined : {});
	return r.status === 404 && /no route/.test(r.text) ?
	    `${method} ${p} is missing` : null;
}

async function eventsRoute() {
	const ac = new AbortController();
	try {
		const res = await fetch(BASE + '/api/v1/events', { signal: ac.signal,
		    headers: { Authorization: 'Bearer ' + VIEWER } });
		const ok = res.status === 200 && /text\/event-stream/.test(
		    res.headers.get('content-type') || '');
		return ok ? null : `GET /api/v1/events answers ${res.status}`;
	} finally {
		ac.abort();
	}
}

let chrome;
before(async () => {
	chrome = await launch();
});

after(async () => {
	await chrome?.close();
});

test('the controller has every route the console uses', async () => {
	const missing = [
		await route('GET', '/api/v1/session'),
		await route('GET', '/api/v1/runs?limit=1'),
		await route('GET', '/api/v1/runs/1'),
		await route('GET', '/api/v1/runs/1/lineage'),
		await route('POST', '/api/v1/runs/1/cancel'),
		await route('POST', '/api/v1/runs/1/retry'),
		await route('GET', '/api/v1/approvals?limit=1'),
		await route('GET', '/api/v1/approvals/1'),
		await route('POST', '/api/v1/approvals/1/approve'),
		await route('POST', '/api/v1/approvals/1/reject'),
		await route('POST', '/api/v1/runs/1/rollout/promote-full'),
		await route('POST', '/api/v1/runs/1/rollout/abort'),
		await route('POST', '/api/v1/runs/1/rollout/pause'),
		await route('POST', '/api/v1/runs/1/rollout/resume'),
		await route('GET', '/api/v1/pipelines?limit=1'),
		await route('GET', '/api/v1/pipelines/demo'),
		await route('POST', '/api/v1/pipelines/demo/runs'),
		await route('GET', '/api/v1/repositories?limit=1'),
		await route('POST', '/api/v1/repositories/demo/refresh'),
		await route('GET', '/api/v1/models?limit=1'),
		await route('GET', '/api/v1/models/demo/versions'),
		await eventsRoute(),
	].filter(Boolean);
	assert.deepEqual(missing, []);
});

test('sign in shows the name and role; sign out ends the session',
    async () => {
	const { context, page } = await newPage(chrome.browser, BASE);
	await page.goto('/');
	await page.getByRole('heading', { name: 'Sign in to Sluice' }).waitFor();
	await shot(page, 'signin');

	await page.getByLabel('API token').fill('slc_not_a_real_token');
	await page.getByRole('button', { name: 'Sign in' }).click();
	await page.getByText('That token was not accepted.').waitFor();

	await page.getByLabel('API token').fill(APPROVER);
	await page.getByRole('button', { name: 'Sign in' }).click();
	await page.locator('#who-name').waitFor({ state: 'visible' });
	assert.equal(await page.locator('#who-name').textContent(),
	    'browser-approver');
	assert.equal(await page.locator('#who-role').textContent(), 'approver');

	// The session is an HttpOnly, SameSite=Strict cookie that scripts
	// cannot read, and it survives a reload.
	const cookie = (await context.cookies()).find(c =>
	    c.name === 'sluice_session');
	assert.ok(cookie, 'no session cookie');
	assert.equal(cookie.httpOnly, true);
	assert.equal(cookie.sameSite, 'Strict');
	assert.ok(!(await page.evaluate(() => document.cookie))
	    .includes('sluice_session'));
	await page.reload();
	await page.locator('#who-name').waitFor({ state: 'visible' });
	assert.equal(await page.locator('#who-role').textContent(), 'approver');

	await page.getByRole('button', { name: 'Sign out' }).click();
	await page.getByText('You are signed out.').waitFor();
	assert.equal(await page.locator('#who').isVisible(), false);
	const after = await page.evaluate(async () =>
	    (await fetch('/api/v1/session')).status);
	assert.equal(after, 401, 'the session still works after signing out');
	await context.close();
});

test('the console is served with a strict CSP and loads under 150 KB',
    async () => {
	const res = await fetch(BASE + '/');
	assert.equal(res.status, 200);
	const csp = res.headers.get('content-security-policy');
	assert.match(csp, /script-src 'self'/);
	assert.match(csp, /style-src 'self'/);
	for (const [hash, token] of [['#/runs', null], ['#/runs', VIEWER]]) {
		const { total, sizes } = await firstLoadBytes(chrome.browser, BASE,
		    hash, token);
		assert.ok(sizes.has('/app.css') && sizes.has('/js/app.js') &&
		    sizes.has('/js/render.js'), JSON.stringify([...sizes]));
		assert.ok(total < BUDGET, `first load of ${hash} is ${total} ` +
		    `bytes: ${JSON.stringify([...sizes])}`);
	}
});

test('no console errors and no other host', async t => {
	const { context, page } = await newPage(chrome.browser, BASE);
	await t.test('the sign-in page', async () => {
		await page.goto('/');
		await page.getByLabel('API token').waitFor();
		assert.deepEqual(page.errors, []);
	});
	await t.test('every page, signed in', async () => {
		await signIn(page, ADMIN);
		for (const hash of PAGES) {
			await page.goto('/' + hash);
			await page.locator('main h1').first().waitFor();
			await page.waitForLoadState('load');
			await shot(page, 'page-' + hash.replace(/[#/]+/g, '-').slice(1));
		}
		assert.deepEqual(page.errors, []);
	});
	assert.deepEqual(page.foreign, []);
	await context.close();
});
