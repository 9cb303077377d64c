import { afterEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import RiskView from './RiskView.vue'
import { useAuth } from '../../stores/auth'

const alert = { id: 'al-1', rule: 'repeat_problem', rule_name: '连续两次发现问题', uscc: '91140100MA0000000X', enterprise_name: '太原某钢铁有限公司',
  reason: '连续两次检查发现问题', status: 'open', version: 3 }

function json(body: unknown, status = 200, headers: Record<string, string> = {}) {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json', ...headers } })
}

/** The risk service as the screen sees it: the open alerts (the acknowledged one leaves the list), classes, the acknowledge call. */
function service(ackAnswer: () => Response) {
  let acknowledged = false
  const calls: { url: string; init?: RequestInit }[] = []
  const fetchMock = vi.fn(async (url: string, init?: RequestInit) => {
    calls.push({ url, init })
    if (url.startsWith('/api/v1/risk/alerts/al-1/acknowledge')) {
      const r = ackAnswer()
      if (r.ok) acknowledged = true
      return r
    }
    if (url.startsWith('/api/v1/risk/alerts')) return json({ items: acknowledged ? [] : [alert], next_cursor: null, limit: 10 })
    if (url.startsWith('/api/v1/risk/classes')) return json({ items: [], next_cursor: null, limit: 25 })
    return json({ title: '资源不存在', status: 404 }, 404)
  })
  vi.stubGlobal('fetch', fetchMock)
  return calls
}

async function mountAs(roles: string[]) {
  const pinia = createPinia()
  setActivePinia(pinia)
  useAuth().me = { sub: 'u-1', roles, role_names: [], region: '140100', level: 'city' }
  const w = mount(RiskView, { global: { plugins: [pinia], stubs: { RouterLink: true, transition: false } }, attachTo: document.body })
  await flushPromises()
  return w
}

afterEach(() => { vi.unstubAllGlobals(); document.body.innerHTML = '' })

describe('RiskView alert acknowledge', () => {
  it('sends If-Match with the listed version, says so and reads the open alerts again', async () => {
    const calls = service(() => json({ ...alert, status: 'acknowledged', version: 4 }, 200, { ETag: '"v4"' }))
    const w = await mountAs(['city_admin'])
    const button = w.find('[data-testid=alert-ack]')
    expect(button.exists()).toBe(true)
    await button.trigger('click')
    await flushPromises()
    const ack = calls.find((c) => c.url.endsWith('/acknowledge'))!
    expect(ack.init?.method).toBe('POST')
    expect(new Headers(ack.init?.headers).get('If-Match')).toBe('"v3"')
    expect(w.find('[role=status]').text()).toContain('已确认预警：太原某钢铁有限公司')
    expect(w.find('[data-testid=alert-ack]').exists()).toBe(false) // the list was read again: no open alert left
    w.unmount()
  })

  it('shows the problem of a refused acknowledge (changed meanwhile) and keeps the alert listed', async () => {
    service(() => json({ title: '资源已被他人修改', detail: '请刷新后重试', status: 412 }, 412))
    const w = await mountAs(['county_admin'])
    await w.find('[data-testid=alert-ack]').trigger('click')
    await flushPromises()
    expect(w.text()).toContain('资源已被他人修改')
    expect(w.find('[role=status]').exists()).toBe(false)
    expect(w.find('[data-testid=alert-ack]').exists()).toBe(true)
    w.unmount()
  })

  it('offers no acknowledge to the discipline group (read only)', async () => {
    service(() => json({}, 500))
    const w = await mountAs(['discipline'])
    expect(w.text()).toContain('太原某钢铁有限公司')
    expect(w.find('[data-testid=alert-ack]').exists()).toBe(false)
    w.unmount()
  })
})
