// pages/repositories.js - the watched Git repositories: last poll, last
// success, last error, next poll; refresh now (operators); add and remove
// (admins).
import * as api from '../api.js';
import { live } from '../live.js';
import { h, replace, badge, ago, errorBox, idPart, fmtDuration,
    keepFocus, append, shortSha }
    from '../render.js';

const REFRESH_MS = 5000;

export function mount(ctx) {
	ctx.title('Repositories');
	const canRefresh = ctx.can('operator');
	const isAdmin = ctx.can('admin');
	const box = h('div', { class: 'cards', id: 'repositories' });
	const status = h('div', { class: 'form-status' });
	append(ctx.el, h('div', { class: 'page-head' },
	    h('h1', {}, 'Repositories')), status, box,
	    isAdmin ? addForm() : null);
	let confirmDelete = null;

	function card(r) {
		const name = r.name;
		const pid = idPart(name);
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
					life.now();
				} }, 'Keep it'));
			} else {
				buttons.push(h('button', { type: 'button',
				    class: 'btn', id: 'delete-' + pid,
				    onclick: () => {
					confirmDelete = name;
					life.now().then(() => document.getElementById(
					    'delete-confirm-' + pid)?.focus());
				} }, 'Remove'));
			}
		}
		return h('article', { class: ['card', 'repo'], id: 'repo-' + pid,
		    'aria-labelledby': 'repo-title-' + pid },
		    h('header', { class: 'card-head' },
			h('h2', { id: 'repo-title-' + pid }, name),
			badge(r.poll_status),
			h('div', { class: 'actions' }, buttons)),
		    h('p', {}, h('code', { class: 'uri' }, r.url)),
		    h('dl', { class: 'facts' },
			pair('Branches', r.branches.join(', ')),
			pair('Path', r.path),
			pair('Interval', r.interval_ms !== null ?
			    fmtDuration(r.interval_ms) : 'configured default'),
			pair('Last poll', ago(r.last_poll_at)),
			pair('Last success', ago(r.last_success_at)),
			pair('Next poll', ago(r.next_poll_at)),
			pair('Failures in a row', r.consecutive_failures),
			pair('Pipelines', r.pipelines),
			pair('Heads', heads(r.heads)),
			pair('From', r.source === 'config' ? 'configuration file' :
			    'added through the API')),
		    r.last_error ? h('p', { class: 'error-text' }, h('strong', {},
			'Last error: '), r.last_error) : null);
	}

	// The last processed commit of each branch.
	function heads(hd) {
		const list = Object.entries(hd);
		return list.length ? h('ul', { class: 'plain' }, list.map(([b, sha]) =>
		    h('li', {}, b, ' ', h('code', { title: sha }, shortSha(sha))))) :
		    null;
	}

	function pair(k, v) {
		if (v === null || v === undefined || v === '')
			return null;
		return h('div', {}, h('dt', {}, k), h('dd', {},
		    v instanceof Node ? v : String(v)));
	}

	async function load(signal) {
		const data = await api.get('/api/v1/repositories?limit=200',
		    { signal });
		if (signal.aborted)
			return;
		const list = data.repositories;
		keepFocus(() => replace(box, list.length ?
		    list.map(card) : h('p', { class: 'empty' },
		    'No repositories are watched. Add one to the ' +
		    'configuration file' + (isAdmin ? ' or below.' : '.'))));
	}

	// Polls are not events: look again every few seconds.
	const life = live(load, { every: REFRESH_MS,
	    fail: e => replace(box, errorBox(e)) });

	async function refresh(name) {
		replace(status);
		try {
			await api.post('/api/v1/repositories/' + api.seg(name) +
			    '/refresh', {});
			ctx.toast('Polling ' + name + ' now.');
			setTimeout(life.now, 800);
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
		life.now();
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
				life.now();
			} catch (err) {
				replace(st, errorBox(err));
			}
		});
		return form;
	}

	life.now();
	return { unmount: life.stop };
}
