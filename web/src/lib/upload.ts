// Upload with progress and retry, for evidence taken on a phone on a poor network.
// A failure the network or an overloaded server caused (no answer, 408, 429, 5xx) is retried after a
// growing pause; a refusal of the file itself (413 too large, 415 wrong type, 422, 403 ...) is not:
// sending the same bytes again cannot change the answer. The evidence store is content-addressed
// (SHA-256), so a retry after a lost answer stores nothing twice.
import { ApiError } from '../api/problem'

export type Sender = (onProgress: (pct: number) => void) => Promise<unknown>

export interface RetryOptions {
  /** attempts in all, the first included (default 3) */
  attempts?: number
  /** pause before the 2nd attempt in ms; doubled each time (default 1000) */
  delayMs?: number
  onProgress?: (pct: number) => void
  /** told before each retry: attempt number (2, 3 …) and the error that caused it */
  onRetry?: (attempt: number, error: ApiError) => void
  sleep?: (ms: number) => Promise<void>
}

export function retryable(e: unknown): boolean {
  if (!(e instanceof ApiError)) return true
  return e.status === 0 || e.status === 408 || e.status === 429 || e.status >= 500
}

const wait = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

export async function uploadWithRetry<T = unknown>(send: Sender, opts: RetryOptions = {}): Promise<T> {
  const attempts = Math.max(1, opts.attempts ?? 3)
  const sleep = opts.sleep ?? wait
  let delay = opts.delayMs ?? 1000
  for (let n = 1; ; n++) {
    try {
      opts.onProgress?.(0)
      return (await send((pct) => opts.onProgress?.(pct))) as T
    } catch (e) {
      const err = e instanceof ApiError ? e : new ApiError(0, { detail: e instanceof Error ? e.message : String(e) })
      if (n >= attempts || !retryable(err)) throw err
      opts.onRetry?.(n + 1, err)
      await sleep(delay)
      delay *= 2
    }
  }
}

/** Size for people: 1.2 MB, 350 KB. */
export function fmtSize(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`
  return `${bytes} B`
}
