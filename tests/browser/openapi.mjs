// openapi.mjs - check JSON answers against docs/api.yaml.
//
// The document's OpenAPI 3.0 schemas become JSON schemas for ajv: $refs
// inlined, allOf of objects merged into one object, `nullable: true` as
// "or null", and every object that lists its properties closed
// (additionalProperties: false unless the document says otherwise).  So
// an answer passes only with the field names the document gives: a
// renamed, misspelt or invented field fails, and so does a missing
// required one.
//
//   const api = await loadApi();
//   api.check('GET', '/api/v1/runs/3', 200, body)   → [] or ['message', …]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';

const here = path.dirname(fileURLToPath(import.meta.url));
export const API_YAML = path.resolve(here, '../../docs/api.yaml');

// Words of OpenAPI that are not JSON schema (kept out of what ajv sees).
const DOC_ONLY = new Set(['example', 'examples', 'nullable', 'xml',
    'externalDocs', 'discriminator', 'readOnly', 'writeOnly', 'deprecated']);

function deref(doc, ref) {
	if (!ref.startsWith('#/'))
		throw new Error('only local $ref are supported: ' + ref);
	let node = doc;
	for (const part of ref.slice(2).split('/'))
		node = node[part.replace(/~1/g, '/').replace(/~0/g, '~')];
	if (node === undefined)
		throw new Error('dangling $ref ' + ref);
	return node;
}

// The OpenAPI schema s as a plain JSON schema (see the top).
export function jsonSchema(doc, s, seen = []) {
	if (!s || typeof s !== 'object')
		return s;
	if (s.$ref) {
		if (seen.includes(s.$ref))
			throw new Error('recursive $ref ' + s.$ref);
		return jsonSchema(doc, deref(doc, s.$ref), [...seen, s.$ref]);
	}
	let out = {};
	for (const [k, v] of Object.entries(s)) {
		if (DOC_ONLY.has(k) || k.startsWith('x-'))
			continue;
		if (k === 'properties')
			out.properties = Object.fromEntries(Object.entries(v).map(
			    ([p, ps]) => [p, jsonSchema(doc, ps, seen)]));
		else if (['items', 'additionalProperties', 'not'].includes(k))
			out[k] = typeof v === 'object' ? jsonSchema(doc, v, seen) : v;
		else if (['allOf', 'anyOf', 'oneOf'].includes(k))
			out[k] = v.map(x => jsonSchema(doc, x, seen));
		else
			out[k] = v;
	}
	if (out.allOf)
		out = mergeAll(out);
	if (out.properties && out.additionalProperties === undefined)
		out.additionalProperties = false;
	if (s.nullable === true)
		out = { anyOf: [out, { type: 'null' }] };
	return out;
}

// {allOf: [A, B], ...rest} with object parts as one object schema: the
// properties of all (a later one wins), their required fields together.
function mergeAll(s) {
	const { allOf, ...rest } = s;
	const parts = [...allOf, rest].map(p => p.anyOf && p.anyOf.length === 2 &&
	    p.anyOf[1].type === 'null' ? p.anyOf[0] : p);
	if (!parts.every(p => !p.type || p.type === 'object'))
		return s;
	const out = { type: 'object', properties: {}, required: [] };
	for (const p of parts) {
		Object.assign(out.properties, p.properties || {});
		out.required.push(...(p.required || []));
		for (const [k, v] of Object.entries(p))
			if (!['type', 'properties', 'required',
			    'additionalProperties'].includes(k))
				out[k] = v;
	}
	out.required = [...new Set(out.required)];
	return out;
}

// The operations of the document: [{method, re, path, responses}].
function operations(doc) {
	const ops = [];
	for (const [p, item] of Object.entries(doc.paths)) {
		const re = new RegExp('^' + p.replace(/[.*+?^$()|[\]\\]/g, '\\$&')
		    .replace(/\\?\{[^}]+\\?\}/g, '[^/]+') + '$');
		for (const [method, op] of Object.entries(item)) {
			if (!['get', 'put', 'post', 'delete', 'patch', 'head']
			    .includes(method))
				continue;
			ops.push({ method: method.toUpperCase(), re, path: p,
			    id: op.operationId, responses: op.responses || {} });
		}
	}
	return ops;
}

export async function loadApi(file = API_YAML) {
	const doc = YAML.parse(fs.readFileSync(file, 'utf8'));
	const ajv = new Ajv({ allErrors: true, strict: false });
	addFormats(ajv);
	ajv.addFormat('int64', { type: 'number', validate: Number.isInteger });
	ajv.addFormat('int32', { type: 'number', validate: Number.isInteger });
	const ops = operations(doc);
	const compiled = new Map();

	function validatorOf(op, status) {
		const key = op.method + ' ' + op.path + ' ' + status;
		if (compiled.has(key))
			return compiled.get(key);
		let r = op.responses[String(status)];
		if (r && r.$ref)
			r = deref(doc, r.$ref);
		const media = r && r.content && r.content['application/json'];
		const v = media && media.schema ?
		    ajv.compile(jsonSchema(doc, media.schema)) : null;
		compiled.set(key, { found: Boolean(r), v });
		return compiled.get(key);
	}

	// What is wrong with a JSON answer (an empty list when nothing is).
	function check(method, pathname, status, body) {
		const op = ops.find(o => o.method === method && o.re.test(pathname));
		const what = `${method} ${pathname} ${status}`;
		if (!op)
			return [`${what}: no such operation in docs/api.yaml`];
		const { found, v } = validatorOf(op, status);
		if (!found)
			return [`${what}: status ${status} is not documented for ` +
			    op.id];
		if (!v)
			return body === undefined || body === null ? [] :
			    [`${what}: ${op.id} documents no JSON body for ${status}`];
		if (v(body))
			return [];
		return v.errors.map(e => `${what} (${op.id}): ` +
		    `${e.instancePath || '/'} ${e.message}` +
		    (e.params && e.params.additionalProperty ?
		    ` "${e.params.additionalProperty}"` : ''));
	}

	return { doc, check, operations: ops };
}
