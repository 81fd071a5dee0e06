// mock-layout.test.mjs - the console against its own mock API
// (mock-api.mjs), beside mock.test.mjs: layout at 390 and 1280 px (no
// table wider than its card) in light and dark, with a screenshot of
// every page; accessible names of controls; that the layout check itself
// catches a table wider than its card; and that every answer the mock
// gave matches docs/api.yaml.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, PAGES, violations } from './mock-api.mjs';
import { launch, signedInPages, visit, shot, overflows } from './lib.mjs';

let mock, chrome, pages;

before(async () => {
	mock = await start(0);
	chrome = await launch();
	pages = signedInPages(chrome.browser, mock.url);
});

after(async () => {
	await pages?.close();
	await chrome?.close();
	mock?.close();
});

// A screenshot's name: "mock-390-runs-3-stages-prepare".
const shotName = (width, hash) => `mock-${width}-` +
    hash.replace(/[#/]+/g, '-').slice(1);

// Each page is visited once per width and checked in light and in dark:
// the colour scheme is switched with emulateMedia (the console's dark
// theme is CSS alone, a media query), which lays the page out again as a
// visit in that scheme would, for less than loading it a second time.
test('mock: readable at 390 px and 1280 px, light and dark', async () => {
	const schemes = ['light', 'dark'];
	for (const width of [1280, 390]) {
		const page = await pages.get('admin', { width });
		for (const hash of PAGES) {
			await visit(page, hash);
			for (const colorScheme of schemes) {
				await page.emulateMedia({ colorScheme });
				const bg = await page.evaluate(() =>
				    getComputedStyle(document.body).backgroundColor);
				const [r, g, b] = bg.match(/\d+/g).map(Number);
				const dark = r + g + b < 3 * 128;
				assert.equal(dark, colorScheme === 'dark',
				    `${hash} at ${width} px: background ${bg}`);
				const over = await page.evaluate(() =>
				    document.documentElement.scrollWidth -
				    document.documentElement.clientWidth);
				assert.ok(over <= 0, `${hash} at ${width} px, ` +
				    `${colorScheme}, is ${over} px too wide`);
				assert.deepEqual(await overflows(page), [],
				    `${hash} at ${width} px, ${colorScheme}`);
				if (colorScheme === 'light')
					await shot(page, shotName(width, hash));
			}
			schemes.reverse();	// the next page starts in this one
		}
		await page.emulateMedia({ colorScheme: 'dark' });
		await visit(page, '#/runs/3');
		await shot(page, `mock-${width}-dark-runs-3`);
		assert.deepEqual(page.errors, []);
	}
});

test('mock: controls have accessible names', async () => {
	const page = await pages.get('admin');
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
});

test('mock: the layout check sees a table wider than its card', async () => {
	const page = await pages.get('admin', { width: 390 });
	await visit(page, '#/runs/3');
	assert.deepEqual(await overflows(page), []);
	// A wide table straight in a card is caught; in a scroll wrapper that
	// fits the card it is not.
	await page.evaluate(() => {
		const card = document.querySelector('main .card');
		const t = document.createElement('table');
		t.id = 'too-wide';
		const td = t.insertRow().insertCell();
		td.textContent = 'x'.repeat(200);
		td.className = 'nowrap-test';
		td.setAttribute('nowrap', '');
		card.append(t);
	});
	const found = await overflows(page);
	assert.ok(found.some(m => m.includes('#too-wide')), found.join('\n'));
	await page.evaluate(() => {
		const t = document.getElementById('too-wide');
		const wrap = document.createElement('div');
		wrap.className = 'table-wrap';
		t.replaceWith(wrap);
		wrap.append(t);
	});
	assert.deepEqual(await overflows(page), []);
});

// Last: everything the mock answered during these tests.
test('mock layout: every answer during the tests matched docs/api.yaml',
    () => {
	assert.deepEqual(violations, []);
});
