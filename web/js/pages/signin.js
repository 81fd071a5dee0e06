// pages/signin.js - sign in with an API token (`sluice token create`).
import * as api from '../api.js';
import { h } from '../render.js';

export function mount(ctx) {
	ctx.title('Sign in');
	const input = h('input', { id: 'token', name: 'token', type: 'password',
	    autocomplete: 'off', spellcheck: 'false', required: true,
	    'aria-describedby': 'token-help' });
	const status = h('p', { class: 'error', role: 'alert', id: 'signin-error' });
	const button = h('button', { type: 'submit', class: 'btn-primary' },
	    'Sign in');
	const form = h('form', { class: 'signin card', novalidate: true },
	    h('h1', {}, 'Sign in to Sluice'),
	    ctx.message ? h('p', { class: 'notice' }, ctx.message) : null,
	    h('label', { for: 'token' }, 'API token'),
	    input,
	    h('p', { class: 'help', id: 'token-help' },
		'A token from ', h('code', {}, 'sluice token create'),
		'. It is sent once to start a session and not kept by the ' +
		'browser.'),
	    status,
	    button);
	status.hidden = true;
	form.addEventListener('submit', async e => {
		e.preventDefault();
		const token = input.value.trim();
		if (!token) {
			status.textContent = 'Enter your API token.';
			status.hidden = false;
			input.focus();
			return;
		}
		button.disabled = true;
		status.hidden = true;
		try {
			const s = await api.signIn(token);
			input.value = '';
			ctx.signedIn(s);
		} catch (err) {
			status.textContent = err.status === 401 ?
			    'That token was not accepted.' : err.message;
			status.hidden = false;
			button.disabled = false;
			input.select();
			input.focus();
		}
	});
	ctx.el.append(form);
	input.focus();
	return {};
}
