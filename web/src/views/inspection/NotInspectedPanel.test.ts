import { afterEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'
import { ApiError } from '../../api/problem'
import type { Evidence, InspectionRecord } from '../../api/inspection'

const recordNotInspected = vi.fn()
vi.mock('../../api/inspection', async (orig) => ({ ...(await orig<typeof import('../../api/inspection')>()), recordNotInspected: (...a: unknown[]) => recordNotInspected(...a) }))
vi.mock('element-plus', async (orig) => ({ ...(await orig<typeof import('element-plus')>()), ElMessageBox: { confirm: vi.fn(async () => 'confirm') } }))
const { default: NotInspectedPanel } = await import('./NotInspectedPanel.vue')

const photo = { id: 'e1', purpose: 'not_inspected', item_code: null, sha256: 'a'.repeat(64), size: 10, media_type: 'application/pdf', filename: '停产说明.pdf' } as Evidence
const record = (evidence: Evidence[]) => ({ id: 'r1', version: 7, evidence } as unknown as InspectionRecord)

afterEach(() => { recordNotInspected.mockReset(); document.body.innerHTML = '' })

describe('NotInspectedPanel', () => {
  it('cannot be sent without evidence and a written record', async () => {
    const w = mount(NotInspectedPanel, { props: { record: record([]) } })
    await w.find('button').trigger('click')
    await w.find('textarea').setValue('厂区大门关闭，设备停运')
    expect(w.find('button[type=submit]').attributes('disabled')).toBeDefined()
  })

  it('sends the reason and detail with If-Match on the record version, and hands the closed record up', async () => {
    recordNotInspected.mockResolvedValue({ data: { id: 'r1', state: 'not_inspected' } })
    const w = mount(NotInspectedPanel, { props: { record: record([photo]) } })
    await w.find('button').trigger('click')
    await w.find('select').setValue('changed_production')
    await w.find('textarea').setValue('企业已转产日用塑料制品，无许可证产品生产')
    await w.find('form').trigger('submit')
    await flushPromises()
    expect(recordNotInspected).toHaveBeenCalledWith('r1', 7, { reason: 'changed_production', detail: '企业已转产日用塑料制品，无许可证产品生产' })
    expect(w.emitted('done')?.[0][0]).toMatchObject({ state: 'not_inspected' })
  })

  it('shows the service\'s field error next to the detail and reports a 412 as a conflict', async () => {
    recordNotInspected.mockRejectedValueOnce(new ApiError(422, { title: '输入数据校验失败', errors: [{ field: 'body.detail', message: '详细记录过短' }] }))
    const w = mount(NotInspectedPanel, { props: { record: record([photo]) } })
    await w.find('button').trigger('click')
    await w.find('textarea').setValue('停产')
    await w.find('form').trigger('submit')
    await flushPromises()
    expect(w.find('.field-error').text()).toBe('详细记录过短')
    recordNotInspected.mockRejectedValueOnce(new ApiError(412, { title: '资源已被修改' }))
    await w.find('form').trigger('submit')
    await flushPromises()
    expect(w.emitted('conflict')).toBeTruthy()
  })
})
