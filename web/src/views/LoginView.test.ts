import { describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'
import { createPinia } from 'pinia'
import { createMemoryHistory, createRouter } from 'vue-router'
import LoginView from './LoginView.vue'

async function mountLogin() {
  const router = createRouter({ history: createMemoryHistory(), routes: [
    { path: '/login', component: LoginView }, { path: '/', component: { template: '<p>home</p>' } },
    { path: '/public/draws', name: 'public-draw-find', component: { template: '<p>pub</p>' } },
  ] })
  await router.push('/login')
  return mount(LoginView, { global: { plugins: [createPinia(), router], stubs: { transition: false } }, attachTo: document.body })
}

describe('LoginView', () => {
  it('labels its fields and shows missing input next to the field, sending nothing', async () => {
    const fetchMock = vi.fn()
    vi.stubGlobal('fetch', fetchMock)
    const w = await mountLogin()
    expect(w.find('label[for=login-username]').text()).toBe('用户名')
    expect(w.find('#login-password').attributes('type')).toBe('password')
    await w.find('form').trigger('submit')
    await flushPromises()
    await new Promise((r) => setTimeout(r, 50))
    // both fields are marked in error (the message text itself is checked in the browser tests:
    // Element Plus renders it through a transition happy-dom does not run)
    expect(w.findAll('.el-form-item.is-error').map((f) => f.find('label').text())).toEqual(['用户名', '密码'])
    expect(fetchMock).not.toHaveBeenCalled()
    vi.unstubAllGlobals()
    w.unmount()
  })

  it('shows the service problem of a refused login', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => new Response(JSON.stringify({ title: '用户名或密码错误', detail: '用户名或密码错误，或账号已停用', status: 400 }), { status: 400 })))
    const w = await mountLogin()
    await w.find('#login-username').setValue('demo_province')
    await w.find('#login-password').setValue('nope')
    await w.find('form').trigger('submit')
    await flushPromises()
    expect(w.find('[role=alert]').text()).toContain('用户名或密码错误，或账号已停用')
    vi.unstubAllGlobals()
    w.unmount()
  })
})
