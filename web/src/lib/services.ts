// Which services the gateway reaches right now (its merged OpenAPI lists them), so the screens of the
// lifecycle services appear once those services run.
import { ref } from 'vue'
import { authorisedFetch } from '../api/client'

export const available = ref<Set<string>>(new Set())
let loaded: Promise<void> | null = null

export function loadServices(): Promise<void> {
  loaded ??= (async () => {
    try {
      const doc = await (await fetch('/openapi.json')).json()
      const names = (doc?.info?.['x-services'] ?? []).map((s: { name?: string } | string) => (typeof s === 'string' ? s : s.name))
      available.value = new Set(names.filter(Boolean))
    } catch {
      available.value = new Set()
    }
  })()
  return loaded
}

/** GET an untyped JSON list of a service not yet in the generated schema (see `make web-api`). */
export async function getJson<T>(path: string, query: Record<string, string | number | boolean | null | undefined> = {}): Promise<T> {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(query)) if (v !== null && v !== undefined && v !== '') q.set(k, String(v))
  const resp = await authorisedFetch(q.size ? `${path}?${q}` : path)
  return (await resp.json()) as T
}
