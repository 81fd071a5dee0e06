// console.test.mjs - the console against a real controller and
// PostgreSQL with the demo pipeline and the local executor (started by
// run.sh, which passes the URL, tokens and the demo clone in the
// environment): sign in and out; a run appears and progresses live after
// a `git push`; a stage's log; approve a canary step and see the run go
// on; reject one and see the rollback; a viewer sees no approve button
// and the API refuses it; no console errors; the first-load budget.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { launch, newPage, signIn, shot, call, until, firstLoadBytes,
    overflows, BUDGET } from './lib.mjs';

const BASE = process.env.SLUICE_URL;
const ADMIN = process.env.SLUICE_ADMIN_TOKEN;
const OPERATOR = process.env.SLUICE_OPERATOR_TOKEN;
const APPROVER = process.env.SLUICE_APPROVER_TOKEN;
const VIEWER = process.env.SLUICE_VIEWER_TOKEN;
const WORK = process.env.SLUICE_DEMO_WORK;
const DOCS_SHOT = process.env.SLUICE_DOCS_SCREENSHOT;
const HOSTILE = 'Retrain <img src=x onerror="window.__xss=1"> & <b>"bold"</b>';
const SLOW = { timeout: 240000 };
const PAGES = ['#/runs', '#/approvals', '#/pipelines', '#/pipelines/demo',
    '#/repositories', '#/models'];

assert.ok(BASE && ADMIN && APPROVER && VIEWER && OPERATOR && WORK,
    'run through tests/browser/run.sh');

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

// ---- git -----------------------------------------------------------------

function git(...args) {
	return execFileSync('git', ['-c', 'user.name=Browser Test', '-c',
	    'user.email=browser@sluice.invalid', ...args], { cwd: WORK,
	    encoding: 'utf8' }).trim();
}

let pushes = 0;
function pushDemoCommit(message) {
	fs.appendFileSync(path.join(WORK, 'pipelines/demo/NOTES.md'),
	    `browser test push ${++pushes} at ${new Date().toISOString()}\n`);
	git('add', '-A');
	git('commit', '-q', '-m', message);
	git('push', '-q', 'origin', 'HEAD:main');
	return git('rev-parse', 'HEAD');
}

// ---- API helpers ---------------------------------------------------------

async function runsOfCommit(sha) {
	const r = await call(BASE, ADMIN, 'GET', '/api/v1/runs?pipeline=demo&limit=20');
	assert.equal(r.status, 200, r.text);
	return r.body.runs.filter(x => x.commit.sha === sha);
}

async function pendingApproval(runId) {
	const r = await call(BASE, ADMIN, 'GET',
	    '/api/v1/approvals?status=pending&limit=100');
	assert.equal(r.status, 200, r.text);
	return r.body.approvals.find(a => String(a.run) === String(runId) &&
	    a.status === 'pending');
}

async function runStatus(runId) {
	const r = await call(BASE, ADMIN, 'GET', '/api/v1/runs/' + runId);
	assert.equal(r.status, 200, r.text);
	return r.body;
}

// The picture of the run page in the README (docs/console-run.png): a
// run waiting for approval, with the trends of the runs before it.
async function docsShot(runId, approvalId) {
	const { context, page } = await newPage(chrome.browser, BASE,
	    { width: 1280, height: 1100 });
	await signIn(page, APPROVER);
	await page.goto('/#/runs/' + runId);
	await page.locator('#approval-' + approvalId).waitFor();
	await page.locator('#stage-evaluate td.trend svg').first().waitFor();
	await page.locator('#live[data-state="live"]').waitFor();
	await page.screenshot({ path: DOCS_SHOT });
	await context.close();
}

// ---- tests ---------------------------------------------------------------

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

// The demo run of the tests below: pushed once, approved once; and the
// run whose canary was rejected.
let demo = null;
let rejected = null;

test('a pushed commit appears as a run and progresses live', SLOW, async () => {
	const { context, page } = await newPage(chrome.browser, BASE);
	await signIn(page, ADMIN);
	await page.goto('/#/runs');
	await page.locator('#live[data-state="live"]').waitFor();
	await page.evaluate(() => { window.__noReload = true; });

	const sha = pushDemoCommit(HOSTILE + '\n\nPushed by the browser test.');
	const [run] = await until(async () => {
		const l = await runsOfCommit(sha);
		return l.length ? l : null;
	}, 'a run of the pushed commit', 60000);
	const link = page.getByRole('link', { name: '#' + run.id, exact: true });
	await link.waitFor({ timeout: 60000 });
	assert.equal(await page.evaluate(() => window.__noReload), true,
	    'the runs page reloaded');
	await shot(page, 'runs-live');

	await link.click();
	await page.waitForURL(new RegExp('#/runs/' + run.id + '$'));
	await page.evaluate(() => { window.__noReload = true; });
	// The commit message is shown as text, not parsed.
	await page.locator('#run-commit').getByText(HOSTILE).waitFor();
	assert.equal(await page.evaluate(() => window.__xss), undefined);
	// Stages move on while we watch.
	const prepare = page.locator('#stage-prepare');
	await prepare.locator('.badge', { hasText: 'succeeded' }).first()
	    .waitFor({ timeout: 120000 });
	await page.locator('#stage-train .badge', { hasText: /running|succeeded/ })
	    .first().waitFor({ timeout: 120000 });
	assert.equal(await page.evaluate(() => window.__noReload), true,
	    'the run page reloaded');
	demo = { id: run.id, sha };
	await shot(page, 'run-progress');
	assert.deepEqual(page.errors, []);
	await context.close();
});

test("a stage's log opens and shows its output", SLOW, async () => {
	assert.ok(demo, 'needs the pushed run');
	const { context, page } = await newPage(chrome.browser, BASE);
	await signIn(page, VIEWER);
	await page.goto('/#/runs/' + demo.id);
	await page.locator('#stage-prepare').getByRole('link',
	    { name: 'Show log' }).click();
	await page.waitForURL(/\/stages\/prepare$/);
	await page.locator('#log-text').filter({ hasText:
	    /::artifact dataset=|prepare: wrote/ }).waitFor({ timeout: 60000 });
	await shot(page, 'run-log');
	// The graph's nodes lead to the logs too.
	await page.locator('#node-train').click();
	await page.waitForURL(/\/stages\/train$/);
	await page.getByRole('heading', { name: 'Log of train' }).waitFor();
	assert.deepEqual(page.errors, []);
	await context.close();
});

test('approving a canary step lets the run continue', SLOW, async () => {
	assert.ok(demo, 'needs the pushed run');
	const first = await until(() => pendingApproval(demo.id),
	    'the first pending approval', 180000, 500);
	const { context, page } = await newPage(chrome.browser, BASE);
	await signIn(page, APPROVER);

	// The run page while it waits: the picture in the README.
	await page.goto('/#/runs/' + demo.id);
	await page.locator('#approval-' + first.id).waitFor();
	await page.locator('#stage-evaluate td.trend svg').first().waitFor();
	await shot(page, 'run-waiting-approval');

	await page.goto('/#/approvals');
	const card = page.locator('#approval-' + first.id);
	await card.getByText('Promote demo-api to ' + first.weight + '%').waitFor();
	await shot(page, 'approvals-pending');
	// Pause the rollout from the card and resume it: each confirmed with
	// the target and weight, and kept in the audit trail.
	await card.getByRole('button', { name: 'Pause' }).click();
	await card.getByText('Pause the rollout of demo-api at ' + first.weight +
	    '%?').waitFor();
	await card.getByRole('button', { name: 'Yes, pause' }).click();
	await card.getByText('Paused by browser-approver').waitFor();
	await card.getByRole('button', { name: 'Resume' }).click();
	await card.getByRole('button', { name: 'Yes, resume' }).click();
	await card.getByRole('button', { name: 'Pause' }).waitFor();
	await card.getByLabel('Comment').fill('canary looks healthy');
	await card.getByRole('button', { name: 'Approve' }).click();
	await page.locator('#decided-approvals').getByText('canary looks healthy')
	    .waitFor();

	// The run goes on: the next step asks again; approve it from the
	// run page, and the run succeeds with the model in production.
	await page.goto('/#/runs/' + demo.id);
	const second = await until(() => pendingApproval(demo.id),
	    'the second pending approval', 180000, 500);
	assert.notEqual(second.id, first.id);
	const card2 = page.locator('#approval-' + second.id);
	await card2.getByRole('button', { name: 'Approve' }).waitFor();
	await card2.getByLabel('Comment').fill('full traffic');
	await card2.getByRole('button', { name: 'Approve' }).click();
	await page.locator('.page-head .badge', { hasText: 'succeeded' })
	    .waitFor({ timeout: 180000 });
	await shot(page, 'run-succeeded');
	// Readable on a phone: nothing wider than the screen.
	await page.setViewportSize({ width: 390, height: 844 });
	await page.reload();
	await page.locator('.page-head .badge', { hasText: 'succeeded' }).waitFor();
	await page.locator('#h-lineage + .graph-box .graph').waitFor();
	assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <=
	    document.documentElement.clientWidth), 'the run page is too wide');
	await shot(page, 'run-succeeded-390');
	await page.setViewportSize({ width: 1280, height: 900 });
	await page.goto('/#/models/demo');
	await page.locator('.badge', { hasText: 'production' }).first().waitFor();
	await shot(page, 'model-demo');
	assert.deepEqual(page.errors, []);
	await context.close();
});

test('rejecting a canary step rolls the run back', SLOW, async () => {
	const sha = pushDemoCommit('Retrain again, to be rejected');
	const [run] = await until(async () => {
		const l = await runsOfCommit(sha);
		return l.length ? l : null;
	}, 'a run of the second push', 60000);
	const pending = await until(() => pendingApproval(run.id),
	    'a pending approval to reject', 180000, 500);
	rejected = run.id;
	const { context, page } = await newPage(chrome.browser, BASE);
	await signIn(page, APPROVER);
	await page.goto('/#/runs/' + run.id);
	const card = page.locator('#approval-' + pending.id);
	await card.getByLabel('Comment').fill('error budget too tight today');
	await card.getByRole('button', { name: 'Reject' }).click();
	await page.locator('.page-head .badge', { hasText: 'failed' })
	    .waitFor({ timeout: 180000 });
	await page.locator('#approval-' + pending.id + ' .decision q',
	    { hasText: 'error budget too tight today' }).waitFor();
	const body = await runStatus(run.id);
	const rollout = body.stages.find(s => s.name === 'rollout');
	assert.equal(rollout.status, 'failed');
	assert.ok(JSON.stringify(body).match(/roll(ed)?[_ ]?back/i),
	    'the run says nothing about a rollback');
	await page.locator('#stage-rollout').getByText(/roll(ed)?[_ ]?back/i)
	    .first().waitFor();
	await shot(page, 'run-rolled-back');
	assert.deepEqual(page.errors, []);
	await context.close();
});

test('a viewer sees no approve button, and the API refuses it anyway',
    async t => {
	const { context, page } = await newPage(chrome.browser, BASE);
	await signIn(page, VIEWER);
	assert.equal(await page.locator('#who-role').textContent(), 'viewer');

	await t.test('the API refuses a viewer', async () => {
		const r = await call(BASE, VIEWER, 'POST',
		    '/api/v1/approvals/1/approve', { comment: 'sneaky' });
		assert.equal(r.status, 403, r.text);
		assert.equal(r.body.error.code, 'forbidden');
		// ... and the viewer's own session too, CSRF token and all.
		const before = page.errors.length;
		const s = await page.evaluate(async () => {
			const res = await fetch('/api/v1/approvals/1/approve', {
				method: 'POST',
				headers: { 'Content-Type': 'application/json',
				    'X-CSRF-Token': localStorage.getItem('sluice.csrf') },
				body: JSON.stringify({ comment: 'sneaky' }),
			});
			return { status: res.status, body: await res.json() };
		});
		assert.equal(s.status, 403);
		assert.equal(s.body.error.code, 'forbidden');
		// The browser logs the refused request we made on purpose.
		for (const e of page.errors.splice(before))
			assert.match(e, /status of 403/);
	});

	await t.test('no approve button on a pending approval', SLOW, async () => {
		const sha = pushDemoCommit('Retrain the demo model');
		const [run] = await until(async () => {
			const l = await runsOfCommit(sha);
			return l.length ? l : null;
		}, 'a run of the third push', 60000);
		const pending = await until(() => pendingApproval(run.id),
		    'a pending approval', 180000, 500);
		await page.goto('/#/approvals');
		await page.locator('#approval-' + pending.id).waitFor();
		assert.equal(await page.getByRole('button', { name: 'Approve' })
		    .count(), 0);
		assert.equal(await page.getByRole('button', { name: 'Reject' })
		    .count(), 0);
		await page.goto('/#/runs/' + run.id);
		await page.locator('#approval-' + pending.id).waitFor();
		assert.equal(await page.getByRole('button', { name: 'Approve' })
		    .count(), 0);
		assert.equal(await page.getByRole('button', { name: 'Cancel run' })
		    .count(), 0);
		await shot(page, 'viewer-run');
		if (DOCS_SHOT)
			await docsShot(run.id, pending.id);
		// Leave nothing running: an operator cancels it.
		const c = await call(BASE, OPERATOR, 'POST', '/api/v1/runs/' +
		    run.id + '/cancel', {});
		assert.ok(c.status < 300, c.text);
	});
	assert.deepEqual(page.errors, []);
	await context.close();
});

test('every page at 1280 and 390 px: screenshots, no table wider than ' +
    'its card, the run page says where the run is', async () => {
	assert.ok(demo && rejected, 'needs the runs of the tests before');
	const pages = [...PAGES, '#/runs/' + demo.id, '#/runs/' + demo.id +
	    '/stages/train', '#/runs/' + rejected, '#/models/demo'];
	for (const width of [1280, 390]) {
		const { context, page } = await newPage(chrome.browser, BASE,
		    { width, height: width > 500 ? 900 : 844 });
		await signIn(page, ADMIN);
		for (const hash of pages) {
			await page.goto('/' + hash);
			await page.locator('main h1').first().waitFor();
			await page.waitForLoadState('load');
			await page.waitForTimeout(500);	// the lists' answers
			await page.waitForFunction(() =>
			    ![...document.querySelectorAll('main .muted')].some(e =>
				/^(Loading|…)/.test(e.textContent)));
			assert.ok(await page.evaluate(() =>
			    document.documentElement.scrollWidth <=
			    document.documentElement.clientWidth),
			    `${hash} at ${width} px is wider than the screen`);
			assert.deepEqual(await overflows(page), [],
			    `${hash} at ${width} px`);
			await shot(page, `page-${width}-` +
			    hash.replace(/[#/]+/g, '-').slice(1));
		}
		// The rejected run: failed at its rollout, one link away.
		await page.goto('/#/runs/' + rejected);
		const glance = page.locator('#run-glance');
		await glance.getByText(/^Failed at stage rollout/).waitFor();
		await glance.getByRole('link', { name: 'Go to rollout' }).click();
		await page.waitForURL(new RegExp('#/runs/' + rejected +
		    '/stages/rollout$'));
		await page.locator('#stage-rollout').waitFor();
		await page.waitForFunction(() => {
			const top = document.getElementById('stage-rollout')
			    .getBoundingClientRect().top;
			return top >= 0 && top < innerHeight / 2;
		});
		assert.deepEqual(page.errors, []);
		await context.close();
	}
});
