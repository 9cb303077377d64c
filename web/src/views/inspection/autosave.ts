// Autosave of one checklist item: the latest answer wins, one request at a time, each answer sent
// with its own Idempotency-Key (kept for the retries of that answer) and If-Match on the item's
// version. A 412 means another team member saved this item first: nothing is overwritten, the
// caller reloads and tells the user.
import { ApiError } from '../../api/problem'
import { newIdempotencyKey } from '../../api/client'
import { uploadWithRetry } from '../../lib/upload'
import type { Conclusion, Item } from '../../api/inspection'

export interface Answer {
  conclusion: Conclusion
  text: string | null
  fixed_on_site: boolean
  fix_note: string | null
}

export type SaveState = 'idle' | 'waiting' | 'saving' | 'saved' | 'error' | 'conflict'

export type Put = (version: number, body: Answer, key: string) => Promise<Item>

/** What an answer still lacks before it can be sent (the service would refuse it with the same words). */
export function missing(a: Answer): { field: string; message: string } | null {
  if (a.conclusion === 'nonconforming' && !a.text?.trim()) return { field: 'text', message: '不符合须写明检查记录（发现的问题），填写后自动保存' }
  if (a.conclusion === 'not_applicable' && !a.text?.trim()) return { field: 'text', message: '不适用须写明理由，填写后自动保存' }
  return null
}

export function sameAnswer(a: Answer, b: Answer): boolean {
  return a.conclusion === b.conclusion && (a.text ?? '') === (b.text ?? '') && a.fixed_on_site === b.fixed_on_site
    && (a.fixed_on_site ? (a.fix_note ?? '') === (b.fix_note ?? '') : true)
}

export class ItemSaver {
  version: number
  state: SaveState = 'idle'
  error: ApiError | null = null
  private queued: Answer | null = null
  private running: Promise<void> | null = null
  private lastSent: { body: Answer; key: string } | null = null

  constructor(version: number, private put: Put, private notify: (s: ItemSaver, saved?: Item) => void,
    private sleep?: (ms: number) => Promise<void>) {
    this.version = version
  }

  /** Queue `a` to be saved; resolves when it (or a later answer) was saved or refused. */
  save(a: Answer): Promise<void> {
    if (missing(a)) { this.set('waiting'); return Promise.resolve() }
    this.queued = { ...a, text: a.text?.trim() ? a.text : null, fix_note: a.fixed_on_site ? a.fix_note : null }
    if (!this.running) this.running = this.drain().finally(() => { this.running = null })
    return this.running
  }

  private set(s: SaveState, saved?: Item) {
    this.state = s
    this.notify(this, saved)
  }

  private async drain(): Promise<void> {
    while (this.queued) {
      const body = this.queued
      this.queued = null
      // the same answer again (a retry after an unknown outcome) keeps its key: the service replays it
      const key = this.lastSent && sameAnswer(this.lastSent.body, body) ? this.lastSent.key : newIdempotencyKey()
      this.lastSent = { body, key }
      this.error = null
      this.set('saving')
      try {
        const saved = await uploadWithRetry<Item>(() => this.put(this.version, body, key), { attempts: 3, delayMs: 800, sleep: this.sleep })
        this.version = saved.version
        this.lastSent = null
        this.set(this.queued ? 'saving' : 'saved', saved)
      } catch (e) {
        this.error = e instanceof ApiError ? e : new ApiError(0, null)
        this.queued = null
        this.set(this.error.status === 412 ? 'conflict' : 'error')
        return
      }
    }
  }

  /** After a reload (conflict resolved): continue from the server's version. */
  reset(version: number) {
    this.version = version
    this.error = null
    this.lastSent = null
    this.set('idle')
  }
}
