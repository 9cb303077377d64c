import { afterEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'
import { ApiError } from '../../api/problem'
import type { Item } from '../../api/inspection'

const putItem = vi.fn()
vi.mock('../../api/inspection', async (orig) => ({ ...(await orig<typeof import('../../api/inspection')>()), putItem: (...a: unknown[]) => putItem(...a) }))
const { default: ChecklistItem } = await import('./ChecklistItem.vue')

const base: Item = {
  code: '4.1', item_no: '4', item_name: '质量检验', text: '是否按规定对原辅材料、过程和成品进行检验', allowed: ['conforming', 'nonconforming', 'not_applicable'],
  rule_note: '(1)停产不适用 (2)原辅材料可进行验证。', conclusion: null, conclusion_label: null, preset: false, reason: null, record: null,
  fixed_on_site: false, fix_note: null, version: 1, updated_by: null, updated_at: null,
}
const mountItem = (item: Partial<Item>, readonly = false) =>
  mount(ChecklistItem, { props: { recordId: 'r1', item: { ...base, ...item }, evidence: [], readonly }, attachTo: document.body })

afterEach(() => { putItem.mockReset(); document.body.innerHTML = '' })

describe('ChecklistItem', () => {
  it('on a sealed record shows the sealed answer and, under it, the approved correction', () => {
    const sealed = { ...base, conclusion: 'conforming' as const, conclusion_label: '符合' }
    const w = mount(ChecklistItem, { props: { recordId: 'r1', item: sealed, evidence: [], readonly: true,
      amended: { ...sealed, conclusion: 'nonconforming', record: '2 批次出厂检验记录缺失', amended_by: 'am1' } }, attachTo: document.body })
    expect(w.find('.done').text()).toContain('符合')
    expect(w.find('[data-testid=item-amended]').text()).toBe('经批准更正为：不符合，2 批次出厂检验记录缺失')
    expect(w.findAll('input').length).toBe(0)
    expect(mountItem({ conclusion: 'conforming' }, true).find('[data-testid=item-amended]').exists()).toBe(false)
  })

  it('shows a pre-set 不适用 item with its reason and offers nothing to change', () => {
    const w = mountItem({ preset: true, conclusion: 'not_applicable', reason: '停产不适用' })
    expect(w.text()).toContain('不适用（按适用规则预置，不可修改）：停产不适用')
    expect(w.findAll('input').length).toBe(0)
    expect(w.findAll('textarea').length).toBe(0)
  })

  it('saves a conclusion at once with If-Match on the item version, and shows the rule', async () => {
    putItem.mockResolvedValue({ ...base, conclusion: 'conforming', version: 2 })
    const w = mountItem({})
    expect(w.text()).toContain('适用规则：(1)停产不适用')
    await w.find('input[value=conforming]').setValue(true)
    await flushPromises()
    expect(putItem).toHaveBeenCalledTimes(1)
    const [record, code, version, body] = putItem.mock.calls[0]
    expect([record, code, version]).toEqual(['r1', '4.1', 1])
    expect(body).toMatchObject({ conclusion: 'conforming', fixed_on_site: false })
    expect(w.emitted('saved')?.[0][0]).toMatchObject({ version: 2 })
  })

  it('holds back 不符合 until the finding is written, then shows the service\'s field error next to the field', async () => {
    putItem.mockRejectedValue(new ApiError(422, { title: '输入数据校验失败', errors: [{ field: 'text', message: '检查记录过短' }] }))
    const w = mountItem({})
    await w.find('input[value=nonconforming]').setValue(true)
    await flushPromises()
    expect(putItem).not.toHaveBeenCalled()
    expect(w.text()).toContain('不符合须写明检查记录')
    const ta = w.find('textarea')
    await ta.setValue('缺')
    await ta.trigger('blur')
    await flushPromises()
    expect(putItem).toHaveBeenCalledTimes(1)
    const err = w.find(`#${ta.attributes('aria-describedby')}`)
    expect(err.text()).toBe('检查记录过短')
    expect(ta.attributes('aria-invalid')).toBe('true')
  })

  it('a 412 says another member changed the item and asks the record to reload', async () => {
    putItem.mockRejectedValue(new ApiError(412, { title: '资源已被修改' }))
    const w = mountItem({})
    await w.find('input[value=conforming]').setValue(true)
    await flushPromises()
    expect(w.find('[role=alert]').text()).toContain('该项目已被本组其他成员修改并保存')
    expect(w.emitted('conflict')?.[0]).toEqual(['4.1'])
    // the reloaded item (another member's answer) replaces what was typed here
    await w.setProps({ item: { ...base, conclusion: 'nonconforming', record: '对方记录', version: 3 } })
    expect((w.find('textarea').element as HTMLTextAreaElement).value).toBe('对方记录')
  })

  it('read-only (sealed): the conclusion as text, no inputs', () => {
    const w = mountItem({ conclusion: 'nonconforming', record: '出厂检验记录缺失', version: 2 }, true)
    expect(w.text()).toContain('不符合')
    expect(w.text()).toContain('检查记录：出厂检验记录缺失')
    expect(w.findAll('input').length + w.findAll('textarea').length).toBe(0)
  })
})
