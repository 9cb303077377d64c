import { describe, expect, it } from 'vitest'
import { rowOverdue, withLifecycle } from './lifecycle'
import type { CityRow } from './campaign'

const base = (code: string): CityRow => ({ city_code: code, city: code, dispatched: 3, accepted: 2, pending: 1, overdue: 0, teams: 1,
  reports_missing: 0, inspected: null, problems: null, rectified: null, published: null })

describe('withLifecycle', () => {
  it('fills the lifecycle columns per city and adds cities only the services know', () => {
    const rows = withLifecycle([base('140100')],
      [{ city_code: '140100', opened: 2, overdue: 1, rectified: 1, passed: 1, closed: 1 }, { city_code: '141100', opened: 1, overdue: 0, rectified: 0, passed: 0, closed: 0 }],
      [{ city_code: '140100', results: 4, inspected: 3, published: 2, open: 2, overdue: 1 }])
    expect(rows.map((r) => r.city_code)).toEqual(['140100', '141100'])
    expect(rows[0]).toMatchObject({ inspected: 3, problems: 2, rectified: 1, published: 2, rect_overdue: 1, publish_overdue: 1 })
    expect(rows[1]).toMatchObject({ inspected: 0, problems: 1, published: 0 })
    expect(rowOverdue(rows[0])).toBe(true)
    expect(rowOverdue(rows[1])).toBe(false)
  })

  it('leaves a column "—" (null) when its service did not answer', () => {
    const [r] = withLifecycle([base('140100')], null, null)
    expect([r.inspected, r.problems, r.rectified, r.published]).toEqual([null, null, null, null])
  })
})
