// Cursor paging (the services' `{items, next_cursor}`): forward by cursor, back by the stack of
// cursors already seen. Loading and error are part of the state so every screen can show them.
import { ref, shallowRef, type Ref } from 'vue'
import { asApiError, type ApiError } from '../api/problem'

export interface Page<T> {
  items: T[]
  next_cursor: string | null
  limit?: number
}

export function usePaged<T>(fetchPage: (cursor: string | null) => Promise<Page<T>>) {
  const items = shallowRef<T[]>([]) as Ref<T[]>
  const loading = ref(false)
  const error = shallowRef<ApiError | null>(null)
  const nextCursor = ref<string | null>(null)
  const stack = ref<(string | null)[]>([]) // cursors of the pages before the current one
  const current = ref<string | null>(null)
  const loaded = ref(false)

  async function go(cursor: string | null): Promise<void> {
    loading.value = true
    error.value = null
    try {
      const page = await fetchPage(cursor)
      items.value = page.items
      nextCursor.value = page.next_cursor
      current.value = cursor
      loaded.value = true
    } catch (e) {
      error.value = asApiError(e)
    } finally {
      loading.value = false
    }
  }

  return {
    items, loading, error, nextCursor, loaded,
    pageNumber: () => stack.value.length + 1,
    hasPrev: () => stack.value.length > 0,
    async reload() { stack.value = []; await go(null) },
    async refresh() { await go(current.value) },
    async next() {
      if (!nextCursor.value) return
      stack.value = [...stack.value, current.value]
      await go(nextCursor.value)
    },
    async prev() {
      if (!stack.value.length) return
      const s = [...stack.value]
      const c = s.pop() ?? null
      stack.value = s
      await go(c)
    },
  }
}

/** Every page of a list, up to `cap` items (dashboards aggregate a bounded campaign). */
export async function fetchAll<T>(fetchPage: (cursor: string | null) => Promise<Page<T>>, cap = 5000): Promise<{ items: T[]; truncated: boolean }> {
  const out: T[] = []
  let cursor: string | null = null
  do {
    const page: Page<T> = await fetchPage(cursor)
    out.push(...page.items)
    cursor = page.next_cursor
  } while (cursor && out.length < cap)
  return { items: out, truncated: !!cursor }
}
