import { describe, expect, it } from 'vitest'
import { mount } from '@vue/test-utils'
import ProblemAlert from './ProblemAlert.vue'
import { ApiError } from '../api/problem'

describe('ProblemAlert', () => {
  it('shows title, detail and the field errors not shown next to a field', () => {
    const error = new ApiError(422, { title: '输入数据校验失败', detail: '请检查', errors: [{ field: 'body.seed', message: '太短' }, { field: 'body.kind', message: '未知' }] })
    const w = mount(ProblemAlert, { props: { error, shownFields: ['seed'] } })
    expect(w.text()).toContain('输入数据校验失败')
    expect(w.text()).toContain('请检查')
    expect(w.text()).toContain('未知')
    expect(w.text()).not.toContain('太短')
    expect(w.find('[role=alert]').exists()).toBe(true)
  })

  it('renders nothing without an error and offers a retry when given', async () => {
    expect(mount(ProblemAlert, { props: { error: null } }).html()).not.toContain('role="alert"')
    let retried = 0
    const w = mount(ProblemAlert, { props: { error: new ApiError(503, null), retry: () => { retried += 1 } } })
    await w.find('button').trigger('click')
    expect(retried).toBe(1)
  })
})
