export function fmtDate(v: string | null | undefined): string {
  if (!v) return '—'
  return v.length > 10 ? v.slice(0, 10) : v
}

export function fmtTime(v: string | null | undefined): string {
  if (!v) return '—'
  const d = new Date(v)
  if (Number.isNaN(d.getTime())) return v
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`
}

export const DRAW_STATUS: Record<string, string> = {
  created: '已创建', frozen: '总体已冻结', seed_entered: '种子已录入待确认', seeded: '种子已确认', committed: '已提交',
}

export const TASK_STATUS: Record<string, string> = { dispatched: '已派发待接收', accepted: '已接收' }

/** Neutralise a cell a spreadsheet would run as a formula (= + - @, and tab/CR), for CSV the browser writes. */
export function safeCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v)
  const guarded = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s
  return /[",\n\r]/.test(guarded) ? `"${guarded.replace(/"/g, '""')}"` : guarded
}

export function toCsv(header: string[], rows: unknown[][]): string {
  return '\ufeff' + [header, ...rows].map((r) => r.map(safeCell).join(',')).join('\r\n') + '\r\n'
}

export function download(name: string, content: Blob): void {
  const url = URL.createObjectURL(content)
  const a = document.createElement('a')
  a.href = url
  a.download = name
  document.body.appendChild(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 1000)
}

/** Download a file through the authorised fetch, reporting progress (bytes against Content-Length). */
export async function fetchWithProgress(resp: Response, onProgress: (pct: number | null) => void): Promise<Blob> {
  const total = Number(resp.headers.get('content-length') ?? 0)
  if (!resp.body) return resp.blob()
  const reader = resp.body.getReader()
  const chunks: Uint8Array[] = []
  let received = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    chunks.push(value)
    received += value.length
    onProgress(total ? Math.min(100, Math.round((received / total) * 100)) : null)
  }
  onProgress(100)
  return new Blob(chunks as BlobPart[], { type: resp.headers.get('content-type') ?? 'application/octet-stream' })
}
