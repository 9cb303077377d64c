import { afterEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import type { Amendment, InspectionRecord, Item } from '../../api/inspection'
import { useAuth } from '../../stores/auth'

const proposeAmendment = vi.fn()
const decideAmendment = vi.fn()
vi.mock('../../api/inspection', async (orig) => ({ ...(await orig<typeof import('../../api/inspection')>()),
  proposeAmendment: (...a: unknown[]) => proposeAmendment(...a), decideAmendment: (...a: unknown[]) => decideAmendment(...a) }))
vi.mock('element-plus', async (orig) => ({ ...(await orig<typeof import('element-plus')>()), ElMessageBox: { confirm: vi.fn(async () => 'confirm') } }))
const { default: AmendmentsPanel } = await import('./AmendmentsPanel.vue')

const item = (code: string, over: Partial<Item> = {}): Item => ({
  code, item_no: '1', item_name: '生产条件', text: `项目 ${code}`, allowed: ['conforming', 'nonconforming'], rule_note: '',
  conclusion: 'conforming', conclusion_label: '符合', preset: false, reason: null, record: null, fixed_on_site: false, fix_note: null,
  version: 1, updated_by: null, updated_at: null, ...over,
})
const pending: Amendment = { id: 'am1', seq: 1, reason: '结论录错', changes: [{ code: '1.2', conclusion: 'nonconforming', text: '记录缺失', fixed_on_site: false }],
  outcome: null, status: 'pending', proposed_by: 'u-member', proposed_person_id: 'P-M', proposed_at: '2026-11-30T08:00:00Z', decided_by: null,
  decided_person_id: null, decided_at: null, decision_note: null, content_hash: null }
const record = (amendments: Amendment[] = []) => ({
  id: 'r1', state: 'sealed', version: 9, items: [item('1.1'), item('1.2'), item('2.1', { preset: true })], amendments,
  present: [{ person_id: 'P-L', name: '张组长', role: 'leader' }, { person_id: 'P-M', name: '李组员', role: 'member' }],
} as unknown as InspectionRecord)

function mountAs(personId: string, r: InspectionRecord) {
  const pinia = createPinia()
  setActivePinia(pinia)
  useAuth().me = { sub: `u-${personId}`, roles: ['inspector'], role_names: [], region: '140000', level: 'province', person_id: personId }
  return mount(AmendmentsPanel, { props: { record: r }, global: { plugins: [pinia] }, attachTo: document.body })
}

afterEach(() => { proposeAmendment.mockReset(); decideAmendment.mockReset(); document.body.innerHTML = '' })

describe('AmendmentsPanel', () => {
  it('sends a member\'s proposal with its reason, the changed item and an Idempotency-Key, and says it waits for the leader', async () => {
    proposeAmendment.mockResolvedValue({ ...pending })
    const w = mountAs('P-M', record())
    await w.find('button').trigger('click') // 提出更正…
    await w.find('#am-reason').setValue('检查记录漏记批次号')
    await w.find('#am-code-0').setValue('1.2')
    await w.find('input[type=radio][value=nonconforming]').setValue(true)
    await w.find('#am-text-0').setValue('2 批次出厂检验记录缺失')
    await w.find('form').trigger('submit')
    await flushPromises()
    expect(proposeAmendment).toHaveBeenCalledTimes(1)
    const [recordId, body, key] = proposeAmendment.mock.calls[0]
    expect(recordId).toBe('r1')
    expect(body).toEqual({ reason: '检查记录漏记批次号', changes: [{ code: '1.2', conclusion: 'nonconforming', text: '2 批次出厂检验记录缺失', fixed_on_site: false }] })
    expect(typeof key).toBe('string')
    expect(w.emitted('changed')?.[0]).toEqual(['更正已提出，待组长批准。'])
  })

  it('keeps an incomplete proposal here, naming the field, and sends nothing', async () => {
    const w = mountAs('P-M', record())
    await w.find('button').trigger('click')
    await w.find('#am-reason').setValue('改')
    await w.find('#am-code-0').setValue('1.1')
    await w.find('input[type=radio][value=nonconforming]').setValue(true)
    await w.find('form').trigger('submit')
    await flushPromises()
    expect(proposeAmendment).not.toHaveBeenCalled()
    expect(w.text()).toContain('请写明更正理由（至少 2 个字）')
    expect(w.text()).toContain('不符合须写明检查记录')
  })

  it('offers the leader approval of a member\'s pending amendment, and no new proposal while one waits', async () => {
    decideAmendment.mockResolvedValue({})
    const w = mountAs('P-L', record([pending]))
    expect(w.text()).not.toContain('提出更正…')
    const approve = w.findAll('button').find((b) => b.text() === '批准更正')!
    await w.find('#am-note').setValue('核对无误')
    await approve.trigger('click')
    await flushPromises()
    expect(decideAmendment).toHaveBeenCalledWith('r1', 'am1', true, { note: '核对无误' })
    expect(w.emitted('changed')?.[0]).toEqual(['第 1 项更正已批准。'])
  })

  it('lets the proposer only withdraw their own amendment', async () => {
    decideAmendment.mockResolvedValue({})
    const w = mountAs('P-M', record([pending]))
    expect(w.findAll('button').some((b) => b.text() === '批准更正')).toBe(false)
    await w.findAll('button').find((b) => b.text() === '撤回本人的更正')!.trigger('click')
    await flushPromises()
    expect(decideAmendment).toHaveBeenCalledWith('r1', 'am1', false, { note: null })
  })
})
