// Who is logged in. The access token lives only here, in memory; the refresh token is an
// httpOnly SameSite=Strict cookie on /auth/web that this code can neither read nor leak
// (gateway/web.py). A page reload restores the session through POST /auth/web/refresh.
import { defineStore } from 'pinia'
import { problemFrom } from '../api/problem'

export interface Me {
  sub: string
  roles: string[]
  role_names: string[]
  region: string
  level: 'province' | 'city' | 'county'
  name?: string | null
  uscc?: string | null
  person_id?: string | null
  organisation?: string | null
}

interface TokenAnswer {
  access_token: string
  expires_in: number
}

const WEB_HEADERS = { 'X-Spotcheck-Web': '1' }
const RENEW_MARGIN_MS = 60_000

let inflight: Promise<boolean> | null = null

export const useAuth = defineStore('auth', {
  state: () => ({
    accessToken: null as string | null,
    expiresAt: 0,
    me: null as Me | null,
    restored: false,
    notice: '' as string,
  }),
  getters: {
    loggedIn: (s) => !!s.accessToken && !!s.me,
    roles: (s): string[] => s.me?.roles ?? [],
  },
  actions: {
    hasRole(...roles: string[]): boolean {
      return roles.some((r) => this.roles.includes(r))
    },
    async accept(answer: TokenAnswer): Promise<void> {
      this.accessToken = answer.access_token
      this.expiresAt = Date.now() + answer.expires_in * 1000
      const resp = await fetch('/auth/me', { headers: { Authorization: `Bearer ${answer.access_token}` } })
      if (!resp.ok) {
        this.clear()
        throw await problemFrom(resp)
      }
      this.me = (await resp.json()) as Me
    },
    /** Password login; throws ApiError (title/detail/field errors) when refused. */
    async login(username: string, password: string): Promise<void> {
      const body = new URLSearchParams({ grant_type: 'password', username, password })
      const resp = await fetch('/auth/web/login', { method: 'POST', body, headers: WEB_HEADERS, credentials: 'same-origin' })
      if (!resp.ok) throw await problemFrom(resp)
      this.notice = ''
      await this.accept((await resp.json()) as TokenAnswer)
    },
    /** Renew from the cookie; false when there is no valid session (single flight). */
    async refresh(): Promise<boolean> {
      if (!inflight) {
        inflight = (async () => {
          try {
            const resp = await fetch('/auth/web/refresh', { method: 'POST', headers: WEB_HEADERS, credentials: 'same-origin' })
            if (!resp.ok) {
              this.clear()
              return false
            }
            await this.accept((await resp.json()) as TokenAnswer)
            return true
          } catch {
            return false
          } finally {
            inflight = null
          }
        })()
      }
      return inflight
    },
    async restore(): Promise<void> {
      if (!this.restored) {
        this.restored = true
        if (!this.accessToken) await this.refresh()
      }
    },
    /** The token to send, renewed first when it is about to expire. */
    async token(): Promise<string | null> {
      if (this.accessToken && Date.now() > this.expiresAt - RENEW_MARGIN_MS) await this.refresh()
      return this.accessToken
    },
    async logout(): Promise<void> {
      try {
        await fetch('/auth/web/logout', { method: 'POST', headers: WEB_HEADERS, credentials: 'same-origin' })
      } finally {
        this.clear()
      }
    },
    expired(): void {
      if (this.accessToken) this.notice = '登录已失效，请重新登录'
      this.clear()
    },
    clear(): void {
      this.accessToken = null
      this.expiresAt = 0
      this.me = null
    },
  },
})
