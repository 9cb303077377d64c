// The lifecycle services' vocabulary (shared/vocabulary.py), their write calls (If-Match on updates,
// Idempotency-Key on creates) and the dashboard's merge of their per-city reports (pure, unit-tested).
import { authorisedFetch, newIdempotencyKey } from '../api/client'
import type { CityRow } from './campaign'

export const RESULT_CATEGORIES: Record<string, string> = {
  no_problem: '未发现问题',
  problem_corrected: '发现问题已责令改正',
  problem_pending: '发现问题待后续处理',
  no_activity: '未发现开展本次抽查涉及的经营活动',
  closed_or_liquidating: '已关闭停业或正在组织清算',
  refused_serious: '不配合检查情节严重',
  unreachable: '通过登记的住所（经营场所）无法联系',
  not_publicised: '未按规定公示应当公示的信息',
  false_publicity: '公示信息隐瞒真实情况弄虚作假',
  deregistered: '注销',
  licence_revoked_by_penalty: '被吊销',
  licence_revoked: '被撤销',
  moved_out: '迁出',
}

export const FOLLOW_UP_MEASURES: Record<string, string> = {
  none_needed: '未发现问题或相关问题已规范、已改正，无需后续处置',
  refer_daily: '停止检查，反馈至日常监管部门依法依规处理',
  order_correction: '违反本部门相关规定，责令改正；后续跟踪由日常监管部门负责',
  case_referral: '发现案件线索，初步固定相关证据后移送办案机构依法依规处理',
  notify_other_dept: '违反其他部门相关规定，抄告相关部门',
  other: '其他',
}

export const HANDLING_MEASURES: Record<string, string> = { order_correction: '责令改正', interview: '约谈', follow_up: '跟踪整改' }
export const PROBLEM_STATUS: Record<string, string> = { open: '待整改', reported: '已报告整改', accepted: '复查合格', fixed_on_site: '已现场整改' }

export interface Written<T> { data: T; etag: string | null }

/**
 * A JSON write. `etag` is sent as If-Match (updates); `idempotencyKey` as Idempotency-Key (creates: keep the
 * key for the retries of one user action, so a retried create is answered, not repeated). Throws ApiError.
 */
export async function writeJson<T>(method: 'POST' | 'PUT' | 'PATCH', path: string, body: unknown,
  opts: { etag?: string | null; idempotencyKey?: string } = {}): Promise<Written<T>> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' }
  if (opts.etag) headers['If-Match'] = opts.etag
  if (opts.idempotencyKey) headers['Idempotency-Key'] = opts.idempotencyKey
  const resp = await authorisedFetch(path, { method, headers, body: JSON.stringify(body ?? {}) })
  const text = await resp.text()
  return { data: (text ? JSON.parse(text) : null) as T, etag: resp.headers.get('etag') }
}

/** GET with the ETag the next update must send back. */
export async function readWithEtag<T>(path: string): Promise<Written<T>> {
  const resp = await authorisedFetch(path)
  return { data: (await resp.json()) as T, etag: resp.headers.get('etag') }
}

/** One Idempotency-Key per user action: the same key while the form is unchanged, a new one after success. */
export function actionKey() {
  let key = newIdempotencyKey()
  return { get: () => key, renew: () => { key = newIdempotencyKey() } }
}

// ------------------------------------------------------------------ dashboard
export interface RectCity { city_code: string; opened: number; overdue: number; rectified?: number; passed: number; closed: number }
export interface DiscCity { city_code: string; results: number; inspected: number; published: number; open: number; overdue: number }

export interface LifecycleRow extends CityRow {
  rect_overdue: number | null
  publish_overdue: number | null
}

/**
 * The scheduling rows with the lifecycle columns filled: inspected and published (disclosure, one result per
 * completed inspection), problems and rectified (rectification cases), overdue rectification and publication.
 * A service that did not answer leaves its columns null ("—"); a city known only to those services gets a row.
 */
export function withLifecycle(rows: CityRow[], rect: RectCity[] | null, disc: DiscCity[] | null, names: Record<string, string> = {}): LifecycleRow[] {
  const out = new Map<string, LifecycleRow>()
  for (const r of rows) out.set(r.city_code, { ...r, rect_overdue: null, publish_overdue: null })
  const row = (code: string): LifecycleRow => {
    let r = out.get(code)
    if (!r) {
      r = { city_code: code, city: names[code] ?? code, dispatched: 0, accepted: 0, pending: 0, overdue: 0, teams: 0, reports_missing: 0,
        inspected: null, problems: null, rectified: null, published: null, rect_overdue: null, publish_overdue: null }
      out.set(code, r)
    }
    return r
  }
  if (disc) {
    for (const r of out.values()) { r.inspected = 0; r.published = 0; r.publish_overdue = 0 }
    for (const d of disc) {
      const r = row(d.city_code)
      r.inspected = d.inspected; r.published = d.published; r.publish_overdue = d.overdue
    }
  }
  if (rect) {
    for (const r of out.values()) { r.problems = 0; r.rectified = 0; r.rect_overdue = 0 }
    for (const c of rect) {
      const r = row(c.city_code)
      r.problems = c.opened; r.rectified = c.rectified ?? c.passed; r.rect_overdue = c.overdue
      if (disc && r.inspected === null) { r.inspected = 0; r.published = 0; r.publish_overdue = 0 }
    }
  }
  // rows with nothing at all (a city without tasks, cases or results) stay out
  return [...out.values()]
    .filter((r) => r.dispatched || r.teams || r.inspected || r.problems || r.published)
    .sort((a, b) => a.city_code.localeCompare(b.city_code))
}

/** True when a row has anything overdue (acceptance, report, rectification, publication). */
export function rowOverdue(r: LifecycleRow): boolean {
  return !!(r.overdue || r.reports_missing || r.rect_overdue || r.publish_overdue)
}
