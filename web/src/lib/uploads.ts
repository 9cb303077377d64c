// Evidence uploads with progress and retry: each file is one entry (waiting → uploading n% → done with its
// SHA-256, or failed with the problem and a retry). The uploader is injected (XHR in the app, a fake in tests).
import { reactive } from 'vue'
import { asApiError, type ApiError } from '../api/problem'

export interface UploadEntry {
  id: number
  name: string
  size: number
  state: 'uploading' | 'done' | 'failed'
  pct: number
  sha256: string | null
  error: ApiError | null
  file: Blob
}

export type Uploader = (file: Blob, name: string, onProgress: (pct: number) => void) => Promise<{ sha256: string }>

export function useUploads(upload: Uploader) {
  const entries = reactive<UploadEntry[]>([])
  let n = 0

  async function run(e: UploadEntry): Promise<void> {
    e.state = 'uploading'
    e.pct = 0
    e.error = null
    try {
      const out = await upload(e.file, e.name, (p) => { e.pct = p })
      e.sha256 = out.sha256
      e.pct = 100
      e.state = 'done'
    } catch (err) {
      e.error = asApiError(err)
      e.state = 'failed'
    }
  }

  return {
    entries,
    async add(file: Blob, name: string): Promise<void> {
      entries.push({ id: ++n, name, size: file.size, state: 'uploading', pct: 0, sha256: null, error: null, file })
      await run(entries[entries.length - 1])
    },
    retry: (e: UploadEntry) => run(e),
    remove(e: UploadEntry) { const i = entries.indexOf(e); if (i >= 0) entries.splice(i, 1) },
    clear() { entries.splice(0, entries.length) },
    /** SHA-256 of every finished upload, in order, without duplicates (the API refuses repeats). */
    shas: () => [...new Set(entries.filter((e) => e.state === 'done' && e.sha256).map((e) => e.sha256 as string))],
    busy: () => entries.some((e) => e.state === 'uploading'),
  }
}
