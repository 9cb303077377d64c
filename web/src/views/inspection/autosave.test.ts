import { describe, expect, it } from 'vitest'
import { ApiError } from '../../api/problem'
import type { Item } from '../../api/inspection'
import { ItemSaver, missing, type Answer } from './autosave'

const noSleep = async () => {}
const item = (version: number, a: Answer): Item => ({ code: '1.1', version, conclusion: a.conclusion, record: a.text, fixed_on_site: a.fixed_on_site } as Item)

describe('ItemSaver', () => {
  it('sends If-Match with the version it holds and moves on to the saved version', async () => {
    const sent: [number, string][] = []
    const s = new ItemSaver(1, async (v, body) => { sent.push([v, body.conclusion]); return item(v + 1, body) }, () => {}, noSleep)
    await s.save({ conclusion: 'conforming', text: null, fixed_on_site: false, fix_note: null })
    await s.save({ conclusion: 'nonconforming', text: '缺检验报告', fixed_on_site: false, fix_note: null })
    expect(sent).toEqual([[1, 'conforming'], [2, 'nonconforming']])
    expect(s.version).toBe(3)
    expect(s.state).toBe('saved')
  })

  it('keeps the Idempotency-Key of an answer for its retries, and uses a new one for another answer', async () => {
    const keys: string[] = []
    let fail = true
    const s = new ItemSaver(1, async (v, body, key) => {
      keys.push(key)
      if (fail) { fail = false; throw new ApiError(0, null) }
      return item(v + 1, body)
    }, () => {}, noSleep)
    await s.save({ conclusion: 'conforming', text: null, fixed_on_site: false, fix_note: null })
    expect(keys.length).toBe(2)
    expect(keys[0]).toBe(keys[1])
    await s.save({ conclusion: 'conforming', text: '正常', fixed_on_site: false, fix_note: null })
    expect(keys[2]).not.toBe(keys[0])
  })

  it('does not send an answer that lacks its required text', async () => {
    let calls = 0
    const states: string[] = []
    const s = new ItemSaver(1, async (v, b) => { calls += 1; return item(v + 1, b) }, (x) => states.push(x.state), noSleep)
    const a: Answer = { conclusion: 'nonconforming', text: '  ', fixed_on_site: false, fix_note: null }
    expect(missing(a)?.field).toBe('text')
    await s.save(a)
    expect(calls).toBe(0)
    expect(states).toEqual(['waiting'])
  })

  it('a 412 is a conflict: not retried, not overwritten, reported once', async () => {
    let calls = 0
    const states: string[] = []
    const s = new ItemSaver(4, async () => { calls += 1; throw new ApiError(412, { title: '资源已被修改' }) }, (x) => states.push(x.state), noSleep)
    await s.save({ conclusion: 'conforming', text: null, fixed_on_site: false, fix_note: null })
    expect(calls).toBe(1)
    expect(s.state).toBe('conflict')
    expect(states.at(-1)).toBe('conflict')
    s.reset(6)
    expect(s.version).toBe(6)
    expect(s.state).toBe('idle')
  })

  it('while one save runs, only the latest of the answers typed meanwhile is sent next', async () => {
    const sent: string[] = []
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => { release = r })
    const s = new ItemSaver(1, async (v, body) => { sent.push(body.text ?? ''); if (sent.length === 1) await gate; return item(v + 1, body) }, () => {}, noSleep)
    const first = s.save({ conclusion: 'conforming', text: 'a', fixed_on_site: false, fix_note: null })
    void s.save({ conclusion: 'conforming', text: 'ab', fixed_on_site: false, fix_note: null })
    void s.save({ conclusion: 'conforming', text: 'abc', fixed_on_site: false, fix_note: null })
    release()
    await first
    expect(sent).toEqual(['a', 'abc'])
    expect(s.version).toBe(3)
  })

  it('a refusal (422) shows the field errors and is not retried', async () => {
    let calls = 0
    const s = new ItemSaver(1, async () => { calls += 1; throw new ApiError(422, { title: '输入数据校验失败', errors: [{ field: 'text', message: '不符合须写明检查记录' }] }) }, () => {}, noSleep)
    await s.save({ conclusion: 'nonconforming', text: 'x', fixed_on_site: false, fix_note: null })
    expect(calls).toBe(1)
    expect(s.state).toBe('error')
    expect(s.error?.fieldErrors).toEqual({ text: '不符合须写明检查记录' })
  })
})
