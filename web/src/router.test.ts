import { afterEach, describe, expect, it, vi } from 'vitest'
import { createPinia, setActivePinia } from 'pinia'
import { createAppRouter } from './router'
import { useAuth } from './stores/auth'

function session(roles: string[] | null) {
  vi.stubGlobal('fetch', vi.fn(async (url: string) => {
    if (url === '/auth/web/refresh') {
      return roles ? new Response(JSON.stringify({ access_token: 't', expires_in: 600 }), { status: 200 })
        : new Response(JSON.stringify({ title: '未登录' }), { status: 401 })
    }
    if (url === '/auth/me') return new Response(JSON.stringify({ sub: 'u', roles, role_names: [], region: '140100', level: 'city' }), { status: 200 })
    return new Response('{}', { status: 404 })
  }))
}

describe('route guard', { timeout: 60_000 }, () => {
  afterEach(() => vi.unstubAllGlobals())

  it('sends an anonymous visitor to the login page, remembering where they were going', async () => {
    setActivePinia(createPinia())
    session(null)
    const router = createAppRouter()
    await router.push('/tasks')
    expect(router.currentRoute.value.name).toBe('login')
    expect(router.currentRoute.value.query.next).toBe('/tasks')
  })

  it('lets the public pages open without a session', async () => {
    setActivePinia(createPinia())
    session(null)
    const router = createAppRouter()
    await router.push('/public/draws/abc')
    expect(router.currentRoute.value.name).toBe('public-draw')
  })

  it('restores the session from the cookie and refuses a screen of another role', async () => {
    setActivePinia(createPinia())
    session(['city_admin'])
    const router = createAppRouter()
    await router.push('/tasks')
    expect(router.currentRoute.value.name).toBe('tasks')
    expect(useAuth().me?.roles).toEqual(['city_admin'])
    await router.push('/discipline')
    expect(router.currentRoute.value.name).toBe('forbidden')
  })
})
