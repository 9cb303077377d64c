// 封存后的更正 as a form: pure rules for what a team member may propose and who may decide (no I/O;
// the service checks all of it again and answers with its own Chinese messages).
import type { Amendment, AmendmentChange, Conclusion, InspectionRecord, Item } from '../../api/inspection'

export interface ChangeDraft { code: string; conclusion: Conclusion | ''; text: string; fixed_on_site: boolean }
export interface AmendmentDraft { reason: string; changes: ChangeDraft[]; outcome: boolean; categories: string[]; follow_up: string }

export const emptyDraft = (): AmendmentDraft => ({ reason: '', changes: [], outcome: false, categories: [], follow_up: '' })

/** Items a change may concern: applicable ones (not pre-set 不适用), as they currently stand (approved amendments applied). */
export function amendableItems(r: InspectionRecord): Item[] {
  if (r.state !== 'sealed') return []
  return (r.current_items ?? r.items).filter((i) => !i.preset)
}

export type FieldErrors = Record<string, string>

/** The request body, or the field errors that keep it from being sent (field names as the service's). */
export function amendmentBody(d: AmendmentDraft, items: Item[]): { body: { reason: string; changes: AmendmentChange[]; outcome?: { categories: string[]; follow_up: string } } | null; errors: FieldErrors } {
  const errors: FieldErrors = {}
  const reason = d.reason.trim()
  if (reason.length < 2) errors.reason = '请写明更正理由（至少 2 个字）'
  const byCode = new Map(items.map((i) => [i.code, i]))
  const seen = new Set<string>()
  const changes: AmendmentChange[] = []
  d.changes.forEach((c, n) => {
    const item = byCode.get(c.code)
    if (!item) { errors[`changes.${n}.code`] = '请选择要更正的检查项目'; return }
    if (seen.has(c.code)) { errors[`changes.${n}.code`] = '同一项目只能出现一次'; return }
    seen.add(c.code)
    if (!c.conclusion || !item.allowed.includes(c.conclusion)) { errors[`changes.${n}.conclusion`] = '请选择更正后的结论'; return }
    const text = c.text.trim()
    if (c.conclusion === 'nonconforming' && !text) { errors[`changes.${n}.text`] = '不符合须写明检查记录'; return }
    changes.push({ code: c.code, conclusion: c.conclusion, text: text || null, fixed_on_site: c.conclusion === 'nonconforming' && c.fixed_on_site })
  })
  if (!d.changes.length && !d.outcome) errors.changes = '请至少更正一个检查项目或检查结果'
  if (d.outcome) {
    if (!d.categories.length) errors['outcome.categories'] = '请选择检查结果类别'
    if (!d.follow_up) errors['outcome.follow_up'] = '请选择后续处置措施'
  }
  if (Object.keys(errors).length) return { body: null, errors }
  return { body: { reason, changes, ...(d.outcome ? { outcome: { categories: [...d.categories], follow_up: d.follow_up } } : {}) }, errors }
}

/**
 * Whether this person may decide a pending amendment, as far as the screen knows (four eyes: never their own
 * approval; a member's amendment goes to the leader, the leader's to the deputy). `role` is the person's role in
 * the team when the record lists it (those present), else undefined and the service decides.
 */
export function mayDecide(a: Amendment, me: string | null | undefined, role: string | undefined, proposerRole: string | undefined): { approve: boolean; reject: boolean } {
  if (a.status !== 'pending' || !me) return { approve: false, reject: false }
  if (a.proposed_person_id === me) return { approve: false, reject: true } // one's own: withdrawn, never approved
  if (role === undefined) return { approve: true, reject: true }
  const decider = proposerRole === 'leader' ? 'deputy' : 'leader'
  const ok = role === decider
  return { approve: ok, reject: ok }
}
