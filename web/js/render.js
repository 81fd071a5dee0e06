// render.js - build DOM that always escapes.
//
// Every element is made with createElement and every value becomes a text
// node or an attribute set with setAttribute: nothing in the console ever
// parses a string as HTML, so a value from the API (a commit message, a
// stage name, an error) shows as the characters it holds.
//
//   h('a', { href: '#/runs/42', class: 'run' }, 'Run #', run.id)
//   s('rect', { x: 0, y: 0, class: 'node st-running' })   (SVG)

const SVG_NS = 'http://www.w3.org/2000/svg';

// Links are only ever to pages of the console itself (or a same-origin
// path): an API value can never become a javascript: or foreign URL.
export function safeHref(v) {
	const href = String(v);
	if (/^#/.test(href) || /^\/(?!\/)/.test(href))
		return href;
	throw new Error('refusing link to ' + JSON.stringify(href));
}

function appendAll(el, children) {
	for (const c of children) {
		if (c === null || c === undefined || c === false || c === true ||
		    c === '')
			continue;
		if (Array.isArray(c))
			appendAll(el, c);
		else if (c instanceof Node)
			el.appendChild(c);
		else
			el.appendChild(document.createTextNode(String(c)));
	}
}

function build(el, attrs, children) {
	let value;
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === null || v === undefined || v === false)
			continue;
		if (k === 'style' || /^on/i.test(k) && typeof v !== 'function')
			throw new Error('inline ' + k + ' is not allowed (CSP)');
		if (/^on/.test(k))
			el.addEventListener(k.slice(2).toLowerCase(), v);
		else if (k === 'class')
			el.setAttribute('class', Array.isArray(v) ?
			    v.filter(Boolean).join(' ') : String(v));
		else if (k === 'dataset')
			for (const [dk, dv] of Object.entries(v))
				el.dataset[dk] = String(dv);
		else if (k === 'href' || k === 'xlink:href')
			el.setAttribute('href', safeHref(v));
		else if (k === 'value')
			value = v;
		else if (k === 'checked' || k === 'selected')
			el[k] = Boolean(v);
		else
			el.setAttribute(k, v === true ? '' : String(v));
	}
	appendAll(el, children);
	if (value !== undefined)
		el.value = String(value);	// after the options of a select
	return el;
}

// An HTML element: h(tag, attrs, ...children).
export function h(tag, attrs, ...children) {
	return build(document.createElement(tag), attrs, children);
}

// An SVG element: s(tag, attrs, ...children).
export function s(tag, attrs, ...children) {
	return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

// Replace everything inside el.
export function replace(el, ...children) {
	el.replaceChildren();
	appendAll(el, children);
	return el;
}

// ---- values -------------------------------------------------------------

const STATUS_RE = /^[a-z][a-z_]{0,31}$/;

// The CSS class of a status ("st-running"); unknown shapes get st-unknown.
export function statusClass(status) {
	return 'st-' + (STATUS_RE.test(String(status)) ? status : 'unknown');
}

export function statusText(status) {
	return String(status ?? 'unknown').replace(/_/g, ' ');
}

export function badge(status) {
	return h('span', { class: ['badge', statusClass(status)] },
	    statusText(status));
}

export function shortSha(sha) {
	return typeof sha === 'string' ? sha.slice(0, 8) : '';
}

// Where an attempt ran ({image_id, node, gpu_product}, each may be null):
// "image sha256:2c26b46b68ff… on node gpu-7 (NVIDIA-H100-80GB-HBM3)", or
// '' when nothing is known.  Text: callers put it through h().
export function ranOn(a) {
	if (!a)
		return '';
	const parts = [];
	if (typeof a.image_id === 'string' && a.image_id) {
		const m = /(sha256:[0-9a-f]{12})[0-9a-f]*$/.exec(a.image_id);
		parts.push('image ' + (m ? m[1] + '…' : a.image_id));
	}
	if (typeof a.node === 'string' && a.node)
		parts.push('on node ' + a.node + (a.gpu_product ?
		    ' (' + a.gpu_product + ')' : ''));
	else if (a.gpu_product)
		parts.push('on ' + a.gpu_product);
	return parts.join(' ');
}

// The first line of a commit message.
export function firstLine(text) {
	return String(text ?? '').split('\n', 1)[0];
}

// A commit ({sha, message, author}) on one line: the short sha, the
// first line of the message, the author.
export function commitLine(c, id) {
	return h('span', { class: 'commit', id },
	    h('code', { title: c.sha }, shortSha(c.sha)),
	    c.message ? [' ', h('span', { class: 'commit-msg' },
		firstLine(c.message))] : null,
	    c.author ? [' ', h('span', { class: 'muted' }, 'by ', c.author)] :
	    null);
}

export function parseTime(iso) {
	if (!iso)
		return null;
	const t = Date.parse(iso);
	return Number.isFinite(t) ? t : null;
}

const dateFmt = new Intl.DateTimeFormat(undefined, {
	year: 'numeric', month: 'short', day: 'numeric',
	hour: '2-digit', minute: '2-digit', second: '2-digit',
});

export function fmtDate(iso) {
	const t = parseTime(iso);
	return t === null ? '' : dateFmt.format(new Date(t));
}

// "3 min ago"; ages are refreshed by the ticker in app.js.
export function fmtAgo(ms, now = Date.now()) {
	const d = Math.round((now - ms) / 1000);
	if (d < 5 && d > -5)
		return 'just now';
	const future = d < 0, a = Math.abs(d);
	const text = a < 60 ? a + ' s' : a < 3600 ? Math.floor(a / 60) +
	    ' min' : a < 86400 ? Math.floor(a / 3600) + ' h' :
	    Math.floor(a / 86400) + ' d';
	return future ? 'in ' + text : text + ' ago';
}

// A <time> showing how long ago iso was (the date in its title).
export function ago(iso) {
	const t = parseTime(iso);
	if (t === null)
		return h('span', { class: 'muted' }, '—');
	return h('time', { datetime: iso, title: fmtDate(iso),
	    class: 'ago', dataset: { t } }, fmtAgo(t));
}

// "1 h 4 min", "12 s", "350 ms".
export function fmtDuration(ms) {
	if (!Number.isFinite(ms) || ms < 0)
		return '';
	if (ms < 1000)
		return Math.round(ms) + ' ms';
	const sec = Math.floor(ms / 1000);
	if (sec < 60)
		return sec + ' s';
	const min = Math.floor(sec / 60);
	if (min < 60)
		return min + ' min ' + (sec % 60) + ' s';
	const hr = Math.floor(min / 60);
	return hr + ' h ' + (min % 60) + ' min';
}

// The duration between two timestamps; while end is empty, counting up
// from start (refreshed by the ticker).
export function duration(startIso, endIso) {
	const a = parseTime(startIso), b = parseTime(endIso);
	if (a === null)
		return h('span', { class: 'muted' }, '—');
	if (b !== null)
		return h('span', { class: 'dur' }, fmtDuration(b - a));
	return h('span', { class: 'dur ticking', dataset: { since: a } },
	    fmtDuration(Date.now() - a));
}

// Refresh every age and running duration on the page.
export function tick(root = document) {
	const now = Date.now();
	for (const el of root.querySelectorAll('time.ago[data-t]'))
		el.textContent = fmtAgo(Number(el.dataset.t), now);
	for (const el of root.querySelectorAll('.ticking[data-since]'))
		el.textContent = fmtDuration(now - Number(el.dataset.since));
}

export function fmtNumber(v) {
	if (typeof v !== 'number' || !Number.isFinite(v))
		return String(v ?? '');
	if (Number.isInteger(v))
		return String(v);
	const a = Math.abs(v);
	return a >= 1000 || a < 0.001 ? v.toPrecision(4) :
	    String(Number(v.toPrecision(4)));
}

// Own enumerable [key, value] pairs of an object from the API, sorted.
export function entries(obj) {
	if (!obj || typeof obj !== 'object' || Array.isArray(obj))
		return [];
	return Object.entries(obj).sort((x, y) => x[0] < y[0] ? -1 :
	    x[0] > y[0] ? 1 : 0);
}

// A table; columns are [header, cell(row) → node|text, class?].  On a
// narrow screen each row becomes a block of label/value pairs (the label
// from data-label), so no column is cut off, unless stack is false (a
// table of a few narrow columns that fits); the wrapper scrolls if a
// value still cannot fit.
export function table(rows, columns, { caption, empty, rowClass,
    stack = true } = {}) {
	if (!rows.length && empty)
		return h('p', { class: 'empty' }, empty);
	return h('div', { class: 'table-wrap' },
	    h('table', { class: stack ? 'stack' : null },
		caption ? h('caption', {}, caption) : null,
		h('thead', {}, h('tr', {}, columns.map(([head, , cls]) =>
		    h('th', { scope: 'col', class: cls }, head)))),
		h('tbody', {}, rows.map(r => h('tr',
		    { class: rowClass ? rowClass(r) : null },
		    columns.map(([head, cell, cls]) => h('td', { class: cls,
			'data-label': head }, cell(r))))))));
}

// A definition list from [term, value] pairs, skipping empty values.
export function dl(pairs, cls) {
	return h('dl', { class: ['facts', cls] }, pairs
	    .filter(([, v]) => v !== null && v !== undefined && v !== '')
	    .map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v))));
}

export function errorBox(err) {
	return h('p', { class: 'error', role: 'alert' },
	    err && err.message ? err.message : String(err));
}

// Call fn at most once per wait ms, after the last call (trailing).
export function debounce(fn, wait) {
	let timer = null;
	const d = (...args) => {
		clearTimeout(timer);
		timer = setTimeout(() => { timer = null; fn(...args); }, wait);
	};
	d.cancel = () => clearTimeout(timer);
	return d;
}

// A page's own id for element ids built from names (stage "train" →
// "stage-train"); anything outside [A-Za-z0-9_-] is encoded.
export function idPart(name) {
	return String(name).replace(/[^A-Za-z0-9_-]/g,
	    c => '_' + c.charCodeAt(0).toString(16));
}

// Run fn (which rebuilds part of the page) and give focus back to the
// element that had it, found again by id, at the same scroll position.
export function keepFocus(fn) {
	const active = document.activeElement && document.activeElement.id;
	const x = window.scrollX, y = window.scrollY;
	fn();
	if (active && document.activeElement?.id !== active)
		document.getElementById(active)?.focus({ preventScroll: true });
	window.scrollTo(x, y);
}

// Append children to el, skipping null, undefined and false (unlike
// Element.append, which would show them as text).
export function append(el, ...children) {
	appendAll(el, children);
	return el;
}

// Metrics of a model side by side with production's and the difference:
// cand and prod are {metric: number} (either may be missing).  labels:
// {caption, candidate, production, empty}.
export function metricsComparison(cand, prod, { caption, candidate =
    'Candidate', production = 'Production', empty = 'No metrics.' } = {}) {
	cand = cand ?? {};
	prod = prod ?? {};
	const names = [...new Set([...Object.keys(cand), ...Object.keys(prod)])]
	    .sort();
	if (!names.length)
		return h('p', { class: 'muted' }, empty);
	const num = v => typeof v === 'number' ? fmtNumber(v) : '—';
	return table(names, [
		['Metric', n => n],
		[candidate, n => num(cand[n]), 'num'],
		[production, n => num(prod[n]), 'num'],
		['Difference', n => {
			const c = cand[n], p = prod[n];
			if (typeof c !== 'number' || typeof p !== 'number')
				return '';
			const d = c - p;
			return h('span', { class: d > 0 ? 'up' : d < 0 ? 'down' :
			    '' }, (d > 0 ? '+' : '') + fmtNumber(d));
		}, 'num'],
	], { caption });
}
