// The inspection service as the on-site screens use it. Paths and request bodies are typed by the
// generated schema.d.ts; the service answers plain dicts (records.record_head/item_out/evidence_out,
// summaries.summary_out), whose shapes are written here.
import { api, authorisedFetch, unwrap, unwrapWithEtag, uploadWithProgress } from './client'
import type { components } from './schema'

type S = { [K in 'Arrival' | 'ItemUpdate' | 'EnterpriseConfirmation' | 'SummaryCreate' | 'NotInspectedBody' | 'AmendmentBody' | 'Decision']: components['schemas'][`inspection__${K}`] }

export type Conclusion = 'conforming' | 'nonconforming' | 'not_applicable'
export const CONCLUSION_LABEL: Record<Conclusion, string> = { conforming: '符合', nonconforming: '不符合', not_applicable: '不适用' }
export const PRODUCTION_STATUS: Record<string, string> = { producing: '正常生产', stopped: '停产', stopped_env: '环保要求正常停产' }
export const RECORD_STATE: Record<string, string> = { open: '检查中', sealed: '已提交封存', not_inspected: '未实施检查' }
export const PURPOSE_LABEL: Record<string, string> = { item: '检查项目证据', fix: '当场整改证据', not_inspected: '未实施检查的证据', signature: '签名', record: '其他材料' }

export interface InspectionTask {
  id: string
  team_id: string
  team_label: string | null
  plan_id: string
  uscc: string
  enterprise_name: string
  categories: string[]
  site_id: string | null
  site_address: string | null
  region_code: string
  city_code: string
  county_code: string | null
  visit_date: string | null
  status: string
  cancel_reason: string | null
  record: { id: string; state: string } | null
}

export interface PresentMember { person_id: string; name?: string; role?: string; law_enforcement?: boolean; kind?: string }

export interface Item {
  code: string
  item_no: string
  item_name: string
  text: string
  allowed: Conclusion[]
  rule_note: string
  conclusion: Conclusion | null
  conclusion_label: string | null
  preset: boolean
  reason: string | null
  record: string | null
  fixed_on_site: boolean
  fix_note: string | null
  version: number
  updated_by: string | null
  updated_at: string | null
  signatures_cleared?: number
}

export interface Evidence {
  id: string
  item_code: string | null
  purpose: string
  sha256: string
  size: number
  media_type: string
  filename: string | null
  note: string | null
  uploaded_by: string
  uploaded_at: string
  /** members' signatures the upload voided (a content file added after signing) */
  signatures_cleared?: number | null
}

export interface SignatureEntry { person_id: string; name: string | null; role: string | null; image_sha256: string | null; signed_at: string }

export interface EnterpriseConfirmation {
  name: string
  role: string
  refused: boolean
  refusal_note?: string | null
  image_sha256?: string | null
  phone?: string | null
}

export interface InspectionRecord {
  id: string
  task_id: string
  team_id: string
  plan_id: string
  uscc: string
  enterprise_name: string
  site_address: string | null
  region_code: string
  categories: string[]
  product_type: string
  product_type_label: string
  checklist_version: string
  state: 'open' | 'sealed' | 'not_inspected'
  production_status: string
  arrived_at: string
  present: PresentMember[]
  gps: { lat: number; lon: number; accuracy_m?: number | null } | null
  enterprise_confirmation: (EnterpriseConfirmation & { recorded_at?: string }) | null
  outcome: { categories: string[]; follow_up: string } | null
  not_inspected: { reason: string; reason_label: string; detail: string } | null
  completed_on: string | null
  sealed_at: string | null
  content_hash: string | null
  version: number
  items: Item[]
  evidence: Evidence[]
  signatures: SignatureEntry[]
  amendments: Amendment[]
  /** the items as corrected by the approved amendments (only when there is one); `items` stay as sealed */
  current_items?: (Item & { amended_by?: string })[]
  problem_summary: { id: string; state: string } | null
}

export interface AmendmentChange { code: string; conclusion: Conclusion; text?: string | null; fixed_on_site: boolean }

export interface Amendment {
  id: string
  seq: number
  reason: string
  changes: AmendmentChange[]
  outcome: { categories: string[]; follow_up: string } | null
  status: 'pending' | 'approved' | 'rejected'
  proposed_by: string
  proposed_person_id: string
  proposed_at: string
  decided_by: string | null
  decided_person_id: string | null
  decided_at: string | null
  decision_note: string | null
  content_hash: string | null
}
export const AMENDMENT_STATUS: Record<string, string> = { pending: '待组长批准', approved: '已批准', rejected: '已驳回' }

export interface ProblemSummary {
  id: string
  record_id: string
  uscc: string
  enterprise_name: string
  site_address: string | null
  licences: { number: string; category?: string | null; valid_from?: string | null; valid_until: string }[]
  products: string[]
  problems: { no: number; item_code: string; item_name?: string; text: string; fixed_on_site: boolean; evidence: string[] }[]
  period: { value: number; unit: string; label: string }
  state: 'draft' | 'handed_over' | string
  team_signatures: { person_id: string; name: string | null; role: string | null }[]
  enterprise_confirmation: Record<string, unknown> | null
  handed_over_at: string | null
  version: number
}

type Page<T> = { items: T[]; next_cursor: string | null }
const BASE = '/api/v1/inspection'

export const listTasks = (cursor: string | null) =>
  unwrap<Page<InspectionTask>>(api.GET('/api/v1/inspection/tasks', { params: { query: { limit: 50, cursor } } }))

export const getRecord = (id: string) =>
  unwrapWithEtag<InspectionRecord>(api.GET('/api/v1/inspection/records/{record_id}', { params: { path: { record_id: id } } }))

export const openRecord = (taskId: string, body: S['Arrival'], key: string) =>
  unwrap<InspectionRecord>(api.POST('/api/v1/inspection/tasks/{task_id}/record', {
    params: { path: { task_id: taskId } }, body, headers: { 'Idempotency-Key': key },
  }))

/** One item's answer; If-Match is the item's own version, the key is kept for the retries of one answer. */
export const putItem = (recordId: string, code: string, version: number, body: S['ItemUpdate'], key: string) =>
  unwrap<Item>(api.PUT('/api/v1/inspection/records/{record_id}/items/{code}', {
    params: { path: { record_id: recordId, code }, header: { 'If-Match': `"v${version}"`, 'Idempotency-Key': key } }, body,
  }))

export const sign = (recordId: string, imageSha: string | null) =>
  unwrap<SignatureEntry>(api.POST('/api/v1/inspection/records/{record_id}/signatures', {
    params: { path: { record_id: recordId } }, body: { image_sha256: imageSha },
  }))

export const confirmEnterprise = (recordId: string, version: number, body: S['EnterpriseConfirmation']) =>
  unwrapWithEtag<InspectionRecord>(api.PUT('/api/v1/inspection/records/{record_id}/enterprise-confirmation', {
    params: { path: { record_id: recordId }, header: { 'If-Match': `"v${version}"` } }, body,
  }))

export const submitRecord = (recordId: string, version: number) =>
  unwrapWithEtag<InspectionRecord>(api.POST('/api/v1/inspection/records/{record_id}/submit', {
    params: { path: { record_id: recordId }, header: { 'If-Match': `"v${version}"` } }, body: {},
  }))

/** 对企业因停产、转产等原因未实施检查的，要做好详细记录: closes the record as an outcome of its own. */
export const recordNotInspected = (recordId: string, version: number, body: S['NotInspectedBody']) =>
  unwrapWithEtag<InspectionRecord>(api.POST('/api/v1/inspection/records/{record_id}/not-inspected', {
    params: { path: { record_id: recordId }, header: { 'If-Match': `"v${version}"` } }, body,
  }))

/** 封存后的更正: proposed by a member of the team (one pending at a time), approved by the leader (the leader's own by the deputy). */
export const proposeAmendment = (recordId: string, body: S['AmendmentBody'], key: string) =>
  unwrap<Amendment>(api.POST('/api/v1/inspection/records/{record_id}/amendments', {
    params: { path: { record_id: recordId } }, body, headers: { 'Idempotency-Key': key },
  }))

export const decideAmendment = (recordId: string, amendmentId: string, approve: boolean, body: S['Decision']) =>
  unwrap<InspectionRecord>(approve
    ? api.POST('/api/v1/inspection/records/{record_id}/amendments/{amendment_id}/approve', { params: { path: { record_id: recordId, amendment_id: amendmentId } }, body })
    : api.POST('/api/v1/inspection/records/{record_id}/amendments/{amendment_id}/reject', { params: { path: { record_id: recordId, amendment_id: amendmentId } }, body }))

export const NOT_INSPECTED_REASONS: Record<string, string> = {
  stopped: '停产', changed_production: '转产', closed: '关闭停业或正在组织清算', unreachable: '通过登记的住所（经营场所）无法联系', refused: '拒绝检查', other: '其他',
}

export const createSummary = (recordId: string, body: S['SummaryCreate'], key: string) =>
  unwrap<ProblemSummary>(api.POST('/api/v1/inspection/records/{record_id}/problem-summary', {
    params: { path: { record_id: recordId } }, body, headers: { 'Idempotency-Key': key },
  }))

export const getSummary = (id: string) =>
  unwrap<ProblemSummary>(api.GET('/api/v1/inspection/problem-summaries/{summary_id}', { params: { path: { summary_id: id } } }))

/** Raw bytes to the content-addressed store, with upload progress (XMLHttpRequest). */
export function uploadEvidence(recordId: string, file: Blob, params: { purpose: string; item_code?: string | null; filename?: string; note?: string },
  onProgress: (pct: number) => void): Promise<Evidence> {
  const q = new URLSearchParams({ purpose: params.purpose })
  if (params.item_code) q.set('item_code', params.item_code)
  if (params.filename) q.set('filename', params.filename)
  if (params.note) q.set('note', params.note)
  return uploadWithProgress(`${BASE}/records/${encodeURIComponent(recordId)}/evidence/upload?${q}`, file, onProgress,
    { 'Content-Type': 'application/octet-stream' }) as Promise<Evidence>
}

export const evidenceUrl = (recordId: string, evidenceId: string) => `${BASE}/records/${encodeURIComponent(recordId)}/evidence/${encodeURIComponent(evidenceId)}/content`
export const recordPdfUrl = (recordId: string) => `${BASE}/records/${encodeURIComponent(recordId)}/form.pdf`
export const summaryPdfUrl = (summaryId: string) => `${BASE}/problem-summaries/${encodeURIComponent(summaryId)}/form.pdf`

/** A file of the service as a blob (the token is a header, so no plain <a href>/<img src>). */
export async function fetchBlob(path: string): Promise<Blob> {
  return (await authorisedFetch(path)).blob()
}
