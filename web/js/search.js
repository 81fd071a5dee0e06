// search.js - the header's search box: one field that takes a commit, a
// run id or a model version and goes to the page that shows it.
//
//   42, #42, run 42           → #/runs/42
//   6af46c1, 6AF46C1E…        → #/commits/6af46c1 (7 to 64 hex digits)
//   fraud v3, fraud:3, fraud@3 → #/models/fraud?version=3
//   fraud                      → #/models/fraud
// Seven or more digits are a commit prefix first; the commit page goes on
// to the run of that id when no commit starts with them.

export function searchTarget(text) {
	const q = String(text ?? '').trim();
	let m;
	if (!q)
		return null;
	if ((m = /^(?:#|run\s*#?\s*)?(\d{1,6})$/i.exec(q)))
		return '#/runs/' + m[1];
	if (/^[0-9a-f]{7,64}$/i.test(q))
		return '#/commits/' + q.toLowerCase();
	if ((m = /^(.+?)(?:\s+v|\s*[:@]\s*v?)(\d+)$/i.exec(q)))
		return '#/models/' + encodeURIComponent(m[1].trim()) +
		    '?version=' + m[2];
	return '#/models/' + encodeURIComponent(q);
}

// Wire the form: submit goes to the target and clears the field.
export function attach(form, navigate) {
	form.addEventListener('submit', ev => {
		ev.preventDefault();
		const input = form.querySelector('input');
		const to = searchTarget(input.value);
		if (!to)
			return;
		input.value = '';
		input.blur();
		navigate(to);
	});
}
