// The typed API client (openapi-fetch over the generated `schema.d.ts`, see `make web-api`).
// The access token is read from the auth store's memory on every request; a request made with a
// token about to expire first renews the session through the httpOnly refresh cookie.
import createClient, { type Middleware } from 'openapi-fetch'
import type { paths } from './schema'
import { ApiError, asApiError, problemFrom } from './problem'

export interface TokenSource {
  token(): Promise<string | null>
  onUnauthorized(): void
}

let source: TokenSource = { token: async () => null, onUnauthorized: () => {} }

export function setTokenSource(s: TokenSource): void {
  source = s
}

const auth: Middleware = {
  async onRequest({ request }) {
    const url = new URL(request.url, location.origin)
    if (url.pathname.startsWith('/auth/web/') || url.pathname.startsWith('/api/v1/sampling/public/')) return request
    const token = await source.token()
    if (token) request.headers.set('Authorization', `Bearer ${token}`)
    return request
  },
  async onResponse({ response }) {
    if (response.status === 401) source.onUnauthorized()
    return response
  },
}

export const api = createClient<paths>({ baseUrl: typeof location === 'undefined' ? 'http://localhost' : location.origin })
api.use(auth)

type Result = { data?: unknown; error?: unknown; response: Response }

/** The body of a successful call as `T`, or throws ApiError carrying the problem+json. */
export async function unwrap<T>(call: Promise<Result>): Promise<T> {
  return (await unwrapWithEtag<T>(call)).data
}

export async function unwrapWithEtag<T>(call: Promise<Result>): Promise<{ data: T; etag: string | null }> {
  let res: Result
  try {
    res = await call
  } catch (err) {
    throw asApiError(err)
  }
  if (!res.response.ok) {
    throw new ApiError(res.response.status, (res.error ?? null) as never)
  }
  return { data: res.data as T, etag: res.response.headers.get('etag') }
}

/** A new Idempotency-Key; keep it for the retries of one user action. */
export function newIdempotencyKey(): string {
  if (typeof crypto !== 'undefined' && 'randomUUID' in crypto) return crypto.randomUUID()
  return `k-${Date.now()}-${Math.random().toString(16).slice(2)}`
}

/** Raw authorised fetch for downloads and uploads the typed client does not model. */
export async function authorisedFetch(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers)
  const token = await source.token()
  if (token) headers.set('Authorization', `Bearer ${token}`)
  const resp = await fetch(path, { ...init, headers })
  if (resp.status === 401) source.onUnauthorized()
  if (!resp.ok) throw await problemFrom(resp)
  return resp
}

/** Upload with progress (fetch has no upload progress): XMLHttpRequest with the same token. */
export async function uploadWithProgress(path: string, body: FormData | Blob, onProgress: (pct: number) => void,
  headers: Record<string, string> = {}, method = 'POST'): Promise<unknown> {
  const token = await source.token()
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open(method, path)
    if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`)
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v)
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(Math.round((e.loaded / e.total) * 100)) }
    xhr.onerror = () => reject(new ApiError(0, null))
    xhr.onload = () => {
      let parsed: unknown = null
      try { parsed = xhr.responseText ? JSON.parse(xhr.responseText) : null } catch { parsed = null }
      if (xhr.status >= 200 && xhr.status < 300) { onProgress(100); resolve(parsed) }
      else { if (xhr.status === 401) source.onUnauthorized(); reject(new ApiError(xhr.status, parsed as never)) }
    }
    xhr.send(body)
  })
}
