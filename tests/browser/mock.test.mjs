// mock.test.mjs - the console against the mock API (mock-api.mjs), which
// answers in docs/api.yaml's shapes with hostile strings in every free-text
// field and every status at once.  What is checked here is rendering:
// escaping, role-aware controls, layout at 390 and 1280 px, light and
// dark, keyboard use, live updates from SSE, the size budget.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, HOSTILE } from './mock-api.mjs';
import { launch, newPage, signIn, shot, firstLoadBytes, BUDGET } from
    './lib.mjs';

const PAGES = ['#/runs', '#/runs/3', '#/runs/3/stages/prepare',
    '#/approvals', '#/pipelines', '#/pipelines/demo', '#/pipelines/broken',
    '#/repositories', '#/models', '#/models/demo'];
let mock, chrome;

before(async () => {
	mock = await start(0);
	chrome = await launch();
});

after(async () => {
	await chrome?.close();
	mock?.close();
});

async function plainText(page, hash) {
	const text = await page.locator('main').innerText();
	assert.doesNotMatch(text, /\b(null|undefined|NaN)\b|\[object /,
	    hash + ' shows a JavaScript value instead of a fact');
}

async function visit(page, hash) {
	await page.goto('/' + hash);
	await page.locator('main h1').first().waitFor();
	// every list, card or error of the page has arrived
	await page.waitForFunction(() => !document.querySelector('main .muted') ||
	    ![...document.querySelectorAll('main .muted')].some(e =>
		/^(Loading|…)/.test(e.textContent)));
}

test('mock: every page renders API values as text, with no console error',
    async () => {
	const { context, page } = await newPage(chrome.browser, mock.url);
	await signIn(page, 'admin');
	for (const hash of PAGES) {
		await visit(page, hash);
		await shot(page, 'mock-' + hash.replace(/[#/]+/g, '-').slice(1));
		await plainText(page, hash);
	}
	await visit(page, '#/pipelines/broken');
	await page.getByText('pipelines/broken.yaml:7:5: unknown field "comand" ' +
	    HOSTILE).waitFor();
	await visit(page, '#/runs/3');
	await page.getByText(HOSTILE).first().waitFor();
	assert.equal(await page.evaluate(() => window.__xss), undefined);
	assert.equal(await page.locator('main img').count(), 0,
	    'an <img> from an API value was parsed as HTML');
	assert.equal(await page.locator('main b').count(), 0);
	assert.deepEqual(page.errors, []);
	assert.deepEqual(page.foreign, [], 'requests to other hosts');
	await context.close();
});

test('mock: first load stays under 150 KB', async () => {
	for (const [hash, token] of [['#/runs', null], ['#/runs', 'viewer'],
	    ['#/runs/3', 'viewer']]) {
		const { total, sizes } = await firstLoadBytes(chrome.browser,
		    mock.url, hash, token);
		assert.ok(sizes.has('/index.html') || sizes.has('/'),
		    'index.html was loaded');
		assert.ok(sizes.has('/app.css') && sizes.has('/js/app.js'));
		assert.ok(total < BUDGET, `${hash}: ${total} bytes: ` +
		    JSON.stringify([...sizes]));
	}
});

test('mock: a viewer sees no control it cannot use', async () => {
	const { context, page } = await newPage(chrome.browser, mock.url);
	await signIn(page, 'viewer');
	assert.equal(await page.locator('#who-role').textContent(), 'viewer');
	await visit(page, '#/approvals');
	await page.getByText('Promote demo-api to 50%').waitFor();
	assert.equal(await page.getByRole('button', { name: 'Approve' }).count(), 0);
	assert.equal(await page.getByRole('button', { name: 'Reject' }).count(), 0);
	await visit(page, '#/runs/3');
	assert.equal(await page.getByRole('button', { name: 'Cancel run' }).count(), 0);
	await visit(page, '#/pipelines/demo');
	assert.equal(await page.getByRole('button', { name: 'Start run' }).count(), 0);
	await visit(page, '#/repositories');
	assert.equal(await page.getByRole('button', { name: 'Refresh now' }).count(), 0);
	assert.equal(await page.getByRole('button', { name: 'Add repository' }).count(), 0);
	for (const hash of PAGES) {
		await visit(page, hash);
		await plainText(page, hash);
	}
	assert.deepEqual(page.errors, []);
	await context.close();
});

test('mock: an operator can cancel and start runs but not approve',
    async () => {
	const { context, page } = await newPage(chrome.browser, mock.url);
	await signIn(page, 'operator');
	await visit(page, '#/runs/3');
	await page.getByRole('button', { name: 'Cancel run' }).waitFor();
	assert.equal(await page.getByRole('button', { name: 'Approve' }).count(), 0);
	await visit(page, '#/pipelines/demo');
	await page.getByLabel('epochs').fill('7');
	await page.getByRole('button', { name: 'Start run' }).click();
	await page.waitForURL(/#\/runs\/\d+$/);
	await page.getByText('epochs=7').waitFor();
	await visit(page, '#/repositories');
	await page.getByRole('button', { name: 'Refresh now' }).first().waitFor();
	assert.equal(await page.getByRole('button', { name: 'Remove' }).count(), 0);
	assert.deepEqual(page.errors, []);
	await context.close();
});

test('mock: approve with the keyboard alone', async () => {
	const { context, page } = await newPage(chrome.browser, mock.url);
	await signIn(page, 'approver');
	await visit(page, '#/approvals');
	const comment = page.getByLabel('Comment');
	await comment.focus();
	await page.keyboard.type('canary is healthy');
	await page.keyboard.press('Tab');
	const focused = await page.evaluate(() => document.activeElement.textContent);
	assert.equal(focused, 'Approve');
	await page.keyboard.press('Enter');
	await page.locator('#decided-approvals').getByText('canary is healthy')
	    .waitFor();
	await page.getByText('Nothing is waiting for approval.').waitFor();
	assert.deepEqual(page.errors, []);
	await context.close();
});

test('mock: a stage starts and logs live, without reloading', async () => {
	const { context, page } = await newPage(chrome.browser, mock.url);
	await signIn(page, 'viewer');
	await visit(page, '#/runs/3');
	await page.locator('#live[data-state="live"]').waitFor();
	const report = page.locator('#stage-report');
	await report.getByText('pending').waitFor();
	await page.evaluate(() => { window.__same = true; });
	await fetch(mock.url + '/mock/step');
	await report.getByText('running', { exact: true }).first().waitFor();
	await report.getByRole('link', { name: 'Show log' }).click();
	await page.locator('#log-text').getByText('starting report').waitFor();
	await fetch(mock.url + '/mock/step');
	await page.locator('#log-text').getByText('step').waitFor();
	assert.equal(await page.evaluate(() => window.__same), true,
	    'the page was reloaded');
	assert.deepEqual(page.errors, []);
	await context.close();
});

test('mock: readable at 390 px and 1280 px, light and dark', async () => {
	for (const [width, colorScheme] of [[390, 'dark'], [1280, 'dark'],
	    [390, 'light']]) {
		const { context, page } = await newPage(chrome.browser, mock.url,
		    { width, colorScheme });
		await signIn(page, 'admin');
		const bg = await page.evaluate(() =>
		    getComputedStyle(document.body).backgroundColor);
		const [r, g, b] = bg.match(/\d+/g).map(Number);
		const dark = r + g + b < 3 * 128;
		assert.equal(dark, colorScheme === 'dark', 'background ' + bg);
		for (const hash of PAGES) {
			await visit(page, hash);
			const over = await page.evaluate(() =>
			    document.documentElement.scrollWidth -
			    document.documentElement.clientWidth);
			assert.ok(over <= 0, `${hash} at ${width} px is ${over} px ` +
			    'too wide');
		}
		await shot(page, `mock-runs-3-${width}-${colorScheme}`);
		assert.deepEqual(page.errors, []);
		await context.close();
	}
});

test('mock: controls have accessible names', async () => {
	const { context, page } = await newPage(chrome.browser, mock.url);
	await signIn(page, 'admin');
	for (const hash of PAGES) {
		await visit(page, hash);
		const unnamed = await page.evaluate(() => {
			const out = [];
			for (const el of document.querySelectorAll(
			    'button, a[href], input, select, textarea')) {
				if (el.closest('[hidden]'))
					continue;
				const labelled = el.labels && el.labels.length ||
				    el.getAttribute('aria-label') ||
				    el.getAttribute('aria-labelledby') ||
				    el.textContent.trim();
				if (!labelled)
					out.push(el.outerHTML.slice(0, 80));
			}
			return out;
		});
		assert.deepEqual(unnamed, [], hash);
	}
	await context.close();
});
