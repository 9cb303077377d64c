import { describe, expect, it } from 'vitest'
import type { Amendment, InspectionRecord, Item } from '../../api/inspection'
import { amendableItems, amendmentBody, emptyDraft, mayDecide } from './amendment'

const item = (code: string, over: Partial<Item> = {}): Item => ({
  code, item_no: code.split('.')[0], item_name: '生产条件', text: `项目 ${code}`, allowed: ['conforming', 'nonconforming', 'not_applicable'],
  rule_note: '', conclusion: 'conforming', conclusion_label: '符合', preset: false, reason: null, record: null, fixed_on_site: false,
  fix_note: null, version: 1, updated_by: null, updated_at: null, ...over,
})
const items = [item('1.1'), item('1.2', { allowed: ['conforming', 'nonconforming'] }), item('2.1', { preset: true, conclusion: 'not_applicable' })]

const amendment = (over: Partial<Amendment> = {}): Amendment => ({
  id: 'a1', seq: 1, reason: '笔误', changes: [], outcome: null, status: 'pending', proposed_by: 'u1', proposed_person_id: 'P-1',
  proposed_at: '2026-11-30T08:00:00Z', decided_by: null, decided_person_id: null, decided_at: null, decision_note: null, content_hash: null, ...over,
})

describe('amendable items', () => {
  it('are the applicable items of a sealed record, as currently amended', () => {
    const r = { state: 'sealed', items, current_items: [item('1.1', { conclusion: 'nonconforming' }), items[1], items[2]] } as unknown as InspectionRecord
    expect(amendableItems(r).map((i) => [i.code, i.conclusion])).toEqual([['1.1', 'nonconforming'], ['1.2', 'conforming']])
  })
  it('are none for a record not inspected (only its result can be amended)', () => {
    expect(amendableItems({ state: 'not_inspected', items } as unknown as InspectionRecord)).toEqual([])
  })
})

describe('the amendment body', () => {
  it('carries the reason and each change once, with text only where written', () => {
    const d = { ...emptyDraft(), reason: ' 结论录错 ', changes: [{ code: '1.1', conclusion: 'nonconforming' as const, text: ' 记录缺失 ', fixed_on_site: true },
      { code: '1.2', conclusion: 'conforming' as const, text: '', fixed_on_site: true }] }
    expect(amendmentBody(d, items)).toEqual({ errors: {}, body: { reason: '结论录错', changes: [
      { code: '1.1', conclusion: 'nonconforming', text: '记录缺失', fixed_on_site: true },
      { code: '1.2', conclusion: 'conforming', text: null, fixed_on_site: false }] } })
  })
  it('is refused, field by field, without a reason, a chosen item, an allowed conclusion or a finding for 不符合', () => {
    const d = { ...emptyDraft(), reason: '改', changes: [{ code: '', conclusion: '' as const, text: '', fixed_on_site: false },
      { code: '1.2', conclusion: 'not_applicable' as const, text: '', fixed_on_site: false },
      { code: '1.1', conclusion: 'nonconforming' as const, text: '  ', fixed_on_site: false },
      { code: '2.1', conclusion: 'conforming' as const, text: '', fixed_on_site: false }] }
    const { body, errors } = amendmentBody(d, items.filter((i) => !i.preset))
    expect(body).toBeNull()
    expect(errors).toEqual({ reason: '请写明更正理由（至少 2 个字）', 'changes.0.code': '请选择要更正的检查项目', 'changes.1.conclusion': '请选择更正后的结论',
      'changes.2.text': '不符合须写明检查记录', 'changes.3.code': '请选择要更正的检查项目' })
  })
  it('refuses the same item twice and an empty amendment', () => {
    const twice = { ...emptyDraft(), reason: '重复', changes: [1, 2].map(() => ({ code: '1.1', conclusion: 'conforming' as const, text: '', fixed_on_site: false })) }
    expect(amendmentBody(twice, items).errors).toEqual({ 'changes.1.code': '同一项目只能出现一次' })
    expect(amendmentBody({ ...emptyDraft(), reason: '没有内容' }, items).errors).toEqual({ changes: '请至少更正一个检查项目或检查结果' })
  })
  it('carries a result to publish when one is chosen, and names what is missing of it', () => {
    const d = { ...emptyDraft(), reason: '结果更正', outcome: true, categories: ['problem_corrected'], follow_up: 'order_correction' }
    expect(amendmentBody(d, []).body).toEqual({ reason: '结果更正', changes: [], outcome: { categories: ['problem_corrected'], follow_up: 'order_correction' } })
    expect(amendmentBody({ ...d, categories: [], follow_up: '' }, []).errors).toEqual({ 'outcome.categories': '请选择检查结果类别', 'outcome.follow_up': '请选择后续处置措施' })
  })
})

describe('who decides', () => {
  it('the leader a member\'s amendment, the deputy the leader\'s; the proposer only withdraws', () => {
    const a = amendment()
    expect(mayDecide(a, 'P-2', 'leader', 'member')).toEqual({ approve: true, reject: true })
    expect(mayDecide(a, 'P-2', 'member', 'member')).toEqual({ approve: false, reject: false })
    expect(mayDecide(a, 'P-2', 'leader', 'leader')).toEqual({ approve: false, reject: false })
    expect(mayDecide(a, 'P-3', 'deputy', 'leader')).toEqual({ approve: true, reject: true })
    expect(mayDecide(a, 'P-1', 'leader', 'leader')).toEqual({ approve: false, reject: true })
  })
  it('nobody once decided; the service decides when the screen does not know the role', () => {
    expect(mayDecide(amendment({ status: 'approved' }), 'P-2', 'leader', 'member')).toEqual({ approve: false, reject: false })
    expect(mayDecide(amendment(), 'P-2', undefined, undefined)).toEqual({ approve: true, reject: true })
    expect(mayDecide(amendment(), null, 'leader', 'member')).toEqual({ approve: false, reject: false })
  })
})
