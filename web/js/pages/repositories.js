// pages/repositories.js - the watched Git repositories: last poll, last
// success, last error, next poll; refresh now (operators); add and remove
// (admins).
import * as api from '../api.js';
import { h, replace, badge, ago, listOf, errorBox, idPart, fmtDuration,
    keepFocus, append }
    from '../render.js';

const REFRESH_MS = 5000;

function field(r, ...names) {
	for (const n of names)
		if (r[n] !== undefined && r[n] !== null)
			return r[n];
	return null;
}

export function mount(ctx) {
	ctx.title('Repositories');
	const canRefresh = ctx.can('operator');
	const isAdmin = ctx.can('admin');
	const box = h('div', { class: 'cards', id: 'repositories' });
	const status = h('div', { class: 'form-status' });
	append(ctx.el, h('div', { class: 'page-head' },
	    h('h1', {}, 'Repositories')), status, box,
	    isAdmin ? addForm() : null);
	let timer = null, abort = null, confirmDelete = null;

	function card(r) {
		const name = String(r.name ?? '');
		const pid = idPart(name);
		const st = field(r, 'poll_status', 'status') ?? 'pending';
		const lastErr = field(r, 'last_error');
		const interval = field(r, 'interval_ms', 'poll_interval_ms');
		const branches = Array.isArray(r.branches) ? r.branches.join(', ') :
		    '';
		const buttons = [];
		if (canRefresh)
			buttons.push(h('button', { type: 'button', class: 'btn',
			    id: 'refresh-' + pid, onclick: () => refresh(name) },
			    'Refresh now'));
		if (isAdmin && r.source !== 'config') {
			if (confirmDelete === name) {
				buttons.push(h('span', { class: 'confirm-text' },
				    'Stop watching ' + name + '?'),
				h('button', { type: 'button', class: 'btn-danger',
				    id: 'delete-confirm-' + pid, onclick: () =>
				    remove(name) }, 'Yes, remove it'),
				h('button', { type: 'button', class: 'btn',
				    onclick: () => {
					confirmDelete = null;
					load();
				} }, 'Keep it'));
			} else {
				buttons.push(h('button', { type: 'button',
				    class: 'btn', id: 'delete-' + pid,
				    onclick: () => {
					confirmDelete = name;
					load().then(() => document.getElementById(
					    'delete-confirm-' + pid)?.focus());
				} }, 'Remove'));
			}
		}
		return h('article', { class: ['card', 'repo'], id: 'repo-' + pid,
		    'aria-labelledby': 'repo-title-' + pid },
		    h('header', { class: 'card-head' },
			h('h2', { id: 'repo-title-' + pid }, name),
			badge(st === 'ok' ? 'ok' : st),
			h('div', { class: 'actions' }, buttons)),
		    h('p', {}, h('code', { class: 'uri' },
			String(field(r, 'url') ?? ''))),
		    h('dl', { class: 'facts' },
			pair('Branches', branches),
			pair('Path', field(r, 'path')),
			pair('Interval', interval ? fmtDuration(Number(interval)) :
			    field(r, 'interval') ?? 'configured default'),
			pair('Last poll', ago(field(r, 'last_poll_at', 'last_poll'))),
			pair('Last success', ago(field(r, 'last_success_at',
			    'last_success'))),
			pair('Next poll', ago(field(r, 'next_poll_at', 'next_poll'))),
			pair('Failures in a row', field(r, 'consecutive_failures')),
			pair('Pipelines', field(r, 'pipelines')),
			pair('Heads', heads(r.heads)),
			pair('From', r.source === 'config' ? 'configuration file' :
			    r.source === 'api' ? 'added through the API' : null)),
		    lastErr ? h('p', { class: 'error-text' }, h('strong', {},
			'Last error: '), String(lastErr)) : null);
	}

	// The last processed commit of each branch.
	function heads(hd) {
		const list = hd && typeof hd === 'object' ? Object.entries(hd) : [];
		return list.length ? h('ul', { class: 'plain' }, list.map(([b, sha]) =>
		    h('li', {}, b, ' ', h('code', { title: String(sha) },
			String(sha).slice(0, 8))))) : null;
	}

	function pair(k, v) {
		if (v === null || v === undefined || v === '')
			return null;
		return h('div', {}, h('dt', {}, k), h('dd', {},
		    v instanceof Node ? v : String(v)));
	}

	async function load() {
		clearTimeout(timer);
		if (abort)
			abort.abort();
		const ac = abort = new AbortController();
		try {
			const data = await api.get('/api/v1/repositories?limit=200',
			    { signal: ac.signal });
			const list = listOf(data, 'repositories');
			keepFocus(() => replace(box, list.length ?
			    list.map(card) : h('p', { class: 'empty' },
			    'No repositories are watched. Add one to the ' +
			    'configuration file' + (isAdmin ? ' or below.' : '.'))));
		} catch (e) {
			if (e.name === 'AbortError')
				return;
			replace(box, errorBox(e));
		}
		// Polls are not events: look again every few seconds.
		if (ac === abort)
			timer = setTimeout(load, REFRESH_MS);
	}

	async function refresh(name) {
		replace(status);
		try {
			await api.post('/api/v1/repositories/' + api.seg(name) +
			    '/refresh', {});
			ctx.toast('Polling ' + name + ' now.');
			setTimeout(load, 800);
		} catch (e) {
			replace(status, errorBox(e));
		}
	}

	async function remove(name) {
		confirmDelete = null;
		replace(status);
		try {
			await api.del('/api/v1/repositories/' + api.seg(name));
			ctx.toast('Removed ' + name + '.');
		} catch (e) {
			replace(status, errorBox(e));
		}
		load();
	}

	function addForm() {
		const inp = (id, label, attrs = {}, help) => h('div',
		    { class: 'field' }, h('label', { for: id }, label),
		    h('input', { id, name: id.replace(/^repo-/, ''), type: 'text',
			autocomplete: 'off', spellcheck: 'false',
			'aria-describedby': help ? id + '-help' : null, ...attrs }),
		    help ? h('p', { class: 'help', id: id + '-help' }, help) : null);
		const st = h('div', { class: 'form-status' });
		const form = h('form', { class: 'card add-repo',
		    'aria-labelledby': 'h-add-repo' },
		    h('h2', { id: 'h-add-repo' }, 'Watch a repository'),
		    inp('repo-name', 'Name', { required: true,
			pattern: '[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?' },
			'Lower case letters, digits and dashes.'),
		    inp('repo-url', 'URL', { required: true },
			'https://, ssh://, git:// or file:// URL.'),
		    inp('repo-branches', 'Branches', { value: 'main' },
			'Comma-separated.'),
		    inp('repo-path', 'Path', { value: 'pipelines' },
			'Folder scanned for *.yaml and *.yml.'),
		    inp('repo-interval', 'Poll interval', {},
			'A duration such as 30s; empty: the configured default.'),
		    h('div', { class: 'actions' }, h('button', { type: 'submit',
			class: 'btn-primary' }, 'Add repository')),
		    st);
		form.addEventListener('submit', async e => {
			e.preventDefault();
			const v = n => form.querySelector('#repo-' + n).value.trim();
			const body = {
				name: v('name'), url: v('url'),
				branches: v('branches').split(',').map(x => x.trim())
				    .filter(Boolean),
				path: v('path'),
			};
			if (v('interval'))
				body.interval = v('interval');
			replace(st);
			try {
				await api.post('/api/v1/repositories', body);
				ctx.toast('Watching ' + body.name + '.');
				form.reset();
				load();
			} catch (err) {
				replace(st, errorBox(err));
			}
		});
		return form;
	}

	load();
	return {
		unmount() {
			clearTimeout(timer);
			if (abort)
				abort.abort();
		},
	};
}
