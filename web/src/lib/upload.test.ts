import { describe, expect, it } from 'vitest'
import { ApiError } from '../api/problem'
import { fmtSize, retryable, uploadWithRetry, type Sender } from './upload'

const noSleep = async () => {}

/** A sender that fails with the given statuses, then answers `ok`. */
function flaky(statuses: number[], ok: unknown = { sha256: 'abc' }) {
  const calls: number[] = []
  const send: Sender = async (onProgress) => {
    calls.push(calls.length + 1)
    onProgress(50)
    const s = statuses.shift()
    if (s !== undefined) throw new ApiError(s, s ? { title: `失败 ${s}` } : null)
    onProgress(100)
    return ok
  }
  return { send, calls }
}

describe('uploadWithRetry', () => {
  it('retries a lost connection and a 503, then resolves with the answer', async () => {
    const { send, calls } = flaky([0, 503])
    const retries: number[] = []
    const progress: number[] = []
    const out = await uploadWithRetry(send, { sleep: noSleep, onRetry: (n) => retries.push(n), onProgress: (p) => progress.push(p) })
    expect(out).toEqual({ sha256: 'abc' })
    expect(calls.length).toBe(3)
    expect(retries).toEqual([2, 3])
    // progress starts again from 0 at each attempt and ends at 100
    expect(progress.filter((p) => p === 0).length).toBe(3)
    expect(progress.at(-1)).toBe(100)
  })

  it('does not resend a file the server refused (415 type, 413 size, 422)', async () => {
    for (const status of [413, 415, 422, 403]) {
      const { send, calls } = flaky([status])
      await expect(uploadWithRetry(send, { sleep: noSleep })).rejects.toMatchObject({ status })
      expect(calls.length).toBe(1)
    }
  })

  it('gives up after the attempts allowed, with the last error, pausing longer each time', async () => {
    const { send, calls } = flaky([502, 502, 502, 502])
    const pauses: number[] = []
    await expect(uploadWithRetry(send, { attempts: 3, delayMs: 100, sleep: async (ms) => { pauses.push(ms) } }))
      .rejects.toMatchObject({ status: 502 })
    expect(calls.length).toBe(3)
    expect(pauses).toEqual([100, 200])
  })

  it('treats a thrown non-API error as a network failure worth retrying', async () => {
    let n = 0
    const out = await uploadWithRetry(async () => { n += 1; if (n === 1) throw new TypeError('Failed to fetch'); return 'ok' }, { sleep: noSleep })
    expect(out).toBe('ok')
    expect(n).toBe(2)
  })
})

describe('retryable / fmtSize', () => {
  it('classifies statuses', () => {
    expect(retryable(new ApiError(0, null))).toBe(true)
    expect(retryable(new ApiError(429, null))).toBe(true)
    expect(retryable(new ApiError(504, null))).toBe(true)
    expect(retryable(new ApiError(415, null))).toBe(false)
    expect(retryable(new ApiError(412, null))).toBe(false)
  })
  it('formats sizes', () => {
    expect(fmtSize(512)).toBe('512 B')
    expect(fmtSize(2048)).toBe('2 KB')
    expect(fmtSize(3 * 1024 * 1024)).toBe('3.0 MB')
  })
})
