import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createPinia, setActivePinia } from 'pinia'
import { useAuth } from './auth'

const ME = { sub: 'demo_taiyuan', roles: ['city_admin'], role_names: ['市局管理员'], region: '140100', level: 'city' }

function json(body: unknown, status = 200) {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': status < 400 ? 'application/json' : 'application/problem+json' } })
}

describe('auth store', () => {
  let calls: { url: string; init?: RequestInit }[]
  let refreshes: number

  beforeEach(() => {
    setActivePinia(createPinia())
    calls = []
    refreshes = 0
    vi.stubGlobal('fetch', vi.fn(async (url: string, init?: RequestInit) => {
      calls.push({ url, init })
      if (url === '/auth/web/login') {
        const form = new URLSearchParams(String(init?.body))
        return form.get('password') === 'right'
          ? json({ access_token: 'access-1', expires_in: 600 })
          : json({ title: '用户名或密码错误', detail: '用户名或密码错误，或账号已停用', status: 400 }, 400)
      }
      if (url === '/auth/web/refresh') {
        refreshes += 1
        await new Promise((r) => setTimeout(r, 5))
        return json({ access_token: `access-r${refreshes}`, expires_in: 600 })
      }
      if (url === '/auth/me') return json(ME)
      if (url === '/auth/web/logout') return new Response(null, { status: 204 })
      return json({ title: '资源不存在' }, 404)
    }))
  })
  afterEach(() => vi.unstubAllGlobals())

  it('logs in with the browser-session endpoint and keeps the token in memory only', async () => {
    const auth = useAuth()
    await auth.login('demo_taiyuan', 'right')
    expect(auth.loggedIn).toBe(true)
    expect(auth.accessToken).toBe('access-1')
    expect(auth.hasRole('city_admin')).toBe(true)
    expect(auth.hasRole('province_admin')).toBe(false)
    const login = calls.find((c) => c.url === '/auth/web/login')!
    expect((login.init?.headers as Record<string, string>)['X-Spotcheck-Web']).toBe('1')
    expect(localStorage.length).toBe(0)
    expect(sessionStorage.length).toBe(0)
  })

  it('shows the problem of a refused login', async () => {
    const auth = useAuth()
    await expect(auth.login('demo_taiyuan', 'wrong')).rejects.toMatchObject({ status: 400, title: '用户名或密码错误' })
    expect(auth.loggedIn).toBe(false)
  })

  it('renews a token about to expire, once for concurrent callers', async () => {
    const auth = useAuth()
    await auth.login('demo_taiyuan', 'right')
    auth.expiresAt = Date.now() + 10_000 // inside the renewal margin
    const tokens = await Promise.all([auth.token(), auth.token(), auth.token()])
    expect(refreshes).toBe(1)
    expect(tokens).toEqual(['access-r1', 'access-r1', 'access-r1'])
  })

  it('restores the session from the cookie once per page load', async () => {
    const auth = useAuth()
    await auth.restore()
    await auth.restore()
    expect(refreshes).toBe(1)
    expect(auth.me?.sub).toBe('demo_taiyuan')
  })

  it('logout forgets everything and an expiry leaves a notice', async () => {
    const auth = useAuth()
    await auth.login('demo_taiyuan', 'right')
    auth.expired()
    expect(auth.notice).toContain('重新登录')
    await auth.login('demo_taiyuan', 'right')
    await auth.logout()
    expect(auth.accessToken).toBeNull()
    expect(auth.me).toBeNull()
    expect(calls.some((c) => c.url === '/auth/web/logout')).toBe(true)
  })
})
