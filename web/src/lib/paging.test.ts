import { describe, expect, it } from 'vitest'
import { fetchAll, usePaged, type Page } from './paging'
import { ApiError } from '../api/problem'

const pages: Record<string, Page<number>> = {
  start: { items: [1, 2], next_cursor: 'c2' },
  c2: { items: [3, 4], next_cursor: 'c3' },
  c3: { items: [5], next_cursor: null },
}
const fetchPage = async (cursor: string | null) => pages[cursor ?? 'start']

describe('cursor paging', () => {
  it('goes forward by cursor and back by the cursors seen', async () => {
    const p = usePaged(fetchPage)
    await p.reload()
    expect(p.items.value).toEqual([1, 2])
    expect(p.hasPrev()).toBe(false)
    await p.next()
    await p.next()
    expect(p.items.value).toEqual([5])
    expect(p.nextCursor.value).toBeNull()
    expect(p.pageNumber()).toBe(3)
    await p.next() // nothing after the last page
    expect(p.pageNumber()).toBe(3)
    await p.prev()
    expect(p.items.value).toEqual([3, 4])
    await p.prev()
    expect(p.items.value).toEqual([1, 2])
    expect(p.hasPrev()).toBe(false)
  })

  it('keeps the error of a failed page and clears it on success', async () => {
    let fail = true
    const p = usePaged(async (c) => { if (fail) throw new ApiError(503, { title: '服务暂不可用' }); return fetchPage(c) })
    await p.reload()
    expect(p.error.value?.title).toBe('服务暂不可用')
    expect(p.loading.value).toBe(false)
    fail = false
    await p.refresh()
    expect(p.error.value).toBeNull()
    expect(p.items.value).toEqual([1, 2])
  })

  it('fetchAll follows every cursor up to a cap', async () => {
    expect(await fetchAll(fetchPage)).toEqual({ items: [1, 2, 3, 4, 5], truncated: false })
    expect(await fetchAll(fetchPage, 3)).toEqual({ items: [1, 2, 3, 4], truncated: true })
  })
})
