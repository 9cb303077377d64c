import { describe, expect, it } from 'vitest'
import { ApiError, asApiError, problemFrom } from './problem'

describe('problem+json', () => {
  it('keeps title, detail and maps field errors to form fields', () => {
    const e = new ApiError(422, {
      title: '输入数据校验失败', detail: 'seed: 不少于 20 位',
      errors: [{ field: 'body.seed', message: '不少于 20 位' }, { field: 'body.material_list.items', message: '至少一项' }, { field: 'body.seed', message: '只能是数字' }],
    })
    expect(e.title).toBe('输入数据校验失败')
    expect(e.message).toBe('输入数据校验失败：seed: 不少于 20 位')
    expect(e.fieldErrors).toEqual({ seed: '不少于 20 位；只能是数字', 'material_list.items': '至少一项' })
  })

  it('reads a non-JSON failure without throwing and names the status', async () => {
    const e = await problemFrom(new Response('<html>bad gateway</html>', { status: 502 }))
    expect(e.status).toBe(502)
    expect(e.title).toBe('服务暂不可用，请稍后再试')
    expect(e.errors).toEqual([])
  })

  it('turns a network failure into a readable problem', () => {
    const e = asApiError(new TypeError('Failed to fetch'))
    expect(e.status).toBe(0)
    expect(e.title).toContain('无法连接')
    expect(e.detail).toBe('Failed to fetch')
  })

  it('ignores malformed error entries', () => {
    const e = new ApiError(400, { title: 'x', errors: [null as never, { field: 'a', message: 'b' }] })
    expect(e.errors).toEqual([{ field: 'a', message: 'b' }])
  })
})
