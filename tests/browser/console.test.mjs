// console.test.mjs - the console against a real controller and
// PostgreSQL with the demo pipeline and the local executor (started by
// run.sh, which passes the URL, tokens and the demo clone in the
// environment): a run appears and progresses live after a `git push`; a
// stage's log; approve a canary step and see the run go on; reject one
// and see the rollback; a viewer sees no approve button and the API
// refuses it; every page at two widths.  These follow the demo's runs one
// after the other; console-session.test.mjs runs beside them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { controllerEnv, launch, newPage, signIn, signedInPages, shot, call,
    until, settled, overflows, PAGES } from './lib.mjs';

const { BASE, ADMIN, OPERATOR, APPROVER, VIEWER, WORK } = controllerEnv();
const DOCS_SHOT = process.env.SLUICE_DOCS_SCREENSHOT;
const HOSTILE = 'Retrain <img src=x onerror="window.__xss=1"> & <b>"bold"</b>';
const SLOW = { timeout: 240000 };

// One signed-in page per token, shared by the tests (signedInPages).
let chrome, pages;
before(async () => {
	chrome = await launch();
	pages = signedInPages(chrome.browser, BASE);
});

after(async () => {
	await pages?.close();
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

// The demo run of the tests below: pushed once, approved once; and the
// run whose canary was rejected.
let demo = null;
let rejected = null;

test('a pushed commit appears as a run and progresses live', SLOW, async () => {
	const page = await pages.get(ADMIN);
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
});

test("a stage's log opens and shows its output", SLOW, async () => {
	assert.ok(demo, 'needs the pushed run');
	const page = await pages.get(VIEWER);
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
});

test('approving a canary step lets the run continue', SLOW, async () => {
	assert.ok(demo, 'needs the pushed run');
	const first = await until(() => pendingApproval(demo.id),
	    'the first pending approval', 180000, 500);
	const page = await pages.get(APPROVER);

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
	// the rollout's promotion is in the target's production history
	await page.locator('#history-demo-api .timeline-item').first()
	    .getByText('rollout', { exact: true }).waitFor();
	await shot(page, 'model-demo');
	assert.deepEqual(page.errors, []);
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
	const page = await pages.get(APPROVER);
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
});

test('a viewer sees no approve button, and the API refuses it anyway',
    async t => {
	const page = await pages.get(VIEWER);
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
});

test('every page at 1280 and 390 px: screenshots, no table wider than ' +
    'its card, the run page says where the run is', async () => {
	assert.ok(demo && rejected, 'needs the runs of the tests before');
	const hashes = [...PAGES, '#/runs/' + demo.id, '#/runs/' + demo.id +
	    '/stages/train', '#/runs/' + rejected, '#/models/demo'];
	// one width after the other, on the admin's page
	for (const width of [1280, 390]) {
		const page = await pages.get(ADMIN, { width,
		    height: width > 500 ? 900 : 844 });
		for (const hash of hashes) {
			await page.goto('/' + hash);
			await page.locator('main h1').first().waitFor();
			await page.waitForLoadState('load');
			await settled(page);	// the lists' answers
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
	}
});
