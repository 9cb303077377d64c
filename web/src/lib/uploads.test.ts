import { describe, expect, it } from 'vitest'
import { ApiError } from '../api/problem'
import { useUploads } from './uploads'

describe('useUploads', () => {
  it('reports progress, keeps a failed upload with its problem, and retries it', async () => {
    let fail = true
    const seen: number[] = []
    const up = useUploads(async (_f, name, onProgress) => {
      onProgress(50); seen.push(50)
      if (fail) throw new ApiError(413, { title: '文件过大', detail: '最大 20 MB' })
      return { sha256: `sha-${name}` }
    })
    await up.add(new Blob(['x']), 'a.png')
    expect(up.entries[0].state).toBe('failed')
    expect(up.entries[0].error?.title).toBe('文件过大')
    expect(up.shas()).toEqual([])
    fail = false
    await up.retry(up.entries[0])
    expect(up.entries[0]).toMatchObject({ state: 'done', pct: 100, sha256: 'sha-a.png' })
    await up.add(new Blob(['y']), 'a.png') // same content id twice: listed once
    expect(up.shas()).toEqual(['sha-a.png'])
    expect(seen.length).toBe(3)
  })
})
