// The REST API (docs: /api/openapi.json): one fetch wrapper, one error type, paging.
// Staff pages authenticate with the session cookie (sent by the browser) or an API
// token; a client's page with its join token. No DOM.

/**
 * A refusal from the API: its HTTP status, its error code (`bad-request`,
 * `not-found`, ...) and its message, meant for people.
 */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} error
   * @param {string} message
   */
  constructor(status, error, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.error = error;
  }
}

/**
 * @typedef {object} CallOptions
 * @property {string} [method] Default `GET`, or `POST` with a body.
 * @property {unknown} [body] Sent as JSON.
 * @property {string} [token] `Authorization: Bearer <token>` (API or join token).
 * @property {AbortSignal} [signal]
 */

/**
 * Calls the API; resolves with the JSON answer (`null` for 204), rejects with an
 * {@link ApiError} for a refusal (or status 0, `network`, when the server cannot be
 * reached).
 * @param {string} path e.g. `/api/interactions`
 * @param {CallOptions} [options]
 * @returns {Promise<any>}
 */
export async function call(path, options) {
  const o = options || {};
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json' };
  if (o.token) headers.Authorization = `Bearer ${o.token}`;
  /** @type {RequestInit} */
  const init = { method: o.method || (o.body === undefined ? 'GET' : 'POST'), headers, credentials: 'same-origin' };
  if (o.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(o.body);
  }
  if (o.signal) init.signal = o.signal;
  /** @type {Response} */
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network', 'The server cannot be reached. Check the connection and try again.');
  }
  if (response.status === 204) return null;
  const text = await response.text();
  /** @type {any} */
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch (_) {
    body = null;
  }
  if (!response.ok) {
    const error = body && typeof body.error === 'string' ? body.error : 'http';
    const message = body && typeof body.message === 'string' ? body.message : response.statusText;
    throw new ApiError(response.status, error, message);
  }
  return body;
}

/**
 * A page of a list: `{items, total, offset, limit}`.
 * @template T
 * @typedef {{items: T[], total: number, offset: number, limit: number}} Page
 */

/**
 * The URL of one page of a list, with its filters.
 * @param {string} path
 * @param {Record<string, string | number | undefined>} [filters]
 * @param {{offset?: number, limit?: number}} [paging]
 * @returns {string}
 */
export function pageUrl(path, filters, paging) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(filters || {})) {
    if (v !== undefined && v !== '') query.set(k, String(v));
  }
  if (paging && paging.offset) query.set('offset', String(paging.offset));
  if (paging && paging.limit) query.set('limit', String(paging.limit));
  const q = query.toString();
  return q ? `${path}?${q}` : path;
}

/**
 * Every item of a list, page by page (at most `max`).
 * @template T
 * @param {string} path
 * @param {Record<string, string | number | undefined>} [filters]
 * @param {{max?: number, limit?: number, token?: string}} [options]
 * @returns {AsyncGenerator<T>}
 */
export async function* items(path, filters, options) {
  const o = options || {};
  const max = o.max || 10000;
  let offset = 0;
  while (offset < max) {
    /** @type {Page<T>} */
    const page = await call(pageUrl(path, filters, { offset, limit: o.limit || 100 }), { token: o.token });
    for (const item of page.items) yield item;
    offset += page.items.length;
    if (page.items.length === 0 || offset >= page.total) return;
  }
}

/**
 * Uploads `file` to an interaction's chat with progress (`XMLHttpRequest`: fetch
 * reports no upload progress). Resolves with the file's record.
 * @param {string} interaction
 * @param {Blob & {name?: string}} file
 * @param {{token?: string, name?: string, onProgress?: (sent: number, total: number) => void, signal?: AbortSignal}} [options]
 * @returns {Promise<any>}
 */
export function upload(interaction, file, options) {
  const o = options || {};
  const name = o.name || file.name || 'file';
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/interactions/${encodeURIComponent(interaction)}/files?name=${encodeURIComponent(name)}`);
    if (o.token) xhr.setRequestHeader('Authorization', `Bearer ${o.token}`);
    xhr.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
    xhr.upload.onprogress = (e) => {
      if (o.onProgress) o.onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    };
    xhr.onload = () => {
      /** @type {any} */
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch (_) {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ApiError(xhr.status, (body && body.error) || 'http', (body && body.message) || xhr.statusText));
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'The server cannot be reached. Check the connection and try again.'));
    xhr.onabort = () => reject(new DOMException('cancelled', 'AbortError'));
    if (o.signal) o.signal.addEventListener('abort', () => xhr.abort());
    xhr.send(file);
  });
}

/**
 * Fetches a chat file as a Blob (with the join token, which a link cannot carry).
 * @param {string} id
 * @param {{token?: string}} [options]
 * @returns {Promise<Blob>}
 */
export async function download(id, options) {
  /** @type {Record<string, string>} */
  const headers = {};
  if (options && options.token) headers.Authorization = `Bearer ${options.token}`;
  const r = await fetch(`/api/files/${encodeURIComponent(id)}`, { headers, credentials: 'same-origin' });
  if (!r.ok) throw new ApiError(r.status, 'http', r.statusText);
  return r.blob();
}

/**
 * Stores a screenshot (a JPEG) of an interaction's call; the server writes its EXIF.
 * @param {string} interaction
 * @param {Blob} jpeg
 * @param {{source: string, method?: string, of?: string, send?: boolean, token?: string}} o
 * @returns {Promise<{file: {id: string, name: string}, width: number, height: number, source: string, taken_at: number, position: any}>}
 */
export async function screenshot(interaction, jpeg, o) {
  const q = new URLSearchParams({ source: o.source });
  if (o.method) q.set('method', o.method);
  if (o.of) q.set('of', o.of);
  if (o.send) q.set('send', 'true');
  /** @type {Record<string, string>} */
  const headers = { 'Content-Type': 'image/jpeg', Accept: 'application/json' };
  if (o.token) headers.Authorization = `Bearer ${o.token}`;
  /** @type {Response} */
  let r;
  try {
    r = await fetch(`/api/interactions/${encodeURIComponent(interaction)}/screenshots?${q}`, { method: 'POST', headers, body: jpeg, credentials: 'same-origin' });
  } catch (_) {
    throw new ApiError(0, 'network', 'The server cannot be reached. Check the connection and try again.');
  }
  const body = await r.json().catch(() => null);
  if (!r.ok) throw new ApiError(r.status, (body && body.error) || 'http', (body && body.message) || r.statusText);
  return body;
}
