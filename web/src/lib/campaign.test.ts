import { describe, expect, it } from 'vitest'
import { byCity, daysUntil, totals } from './campaign'
import type { Task, Team } from '../api/types'

const task = (city: string, status: 'dispatched' | 'accepted', overdue = false): Task =>
  ({ id: Math.random().toString(), city_code: city, region_code: city, status, overdue } as unknown as Task)
const team = (city: string, missing: boolean): Team => ({ id: Math.random().toString(), city_code: city, report_missing: missing } as unknown as Team)

describe('dashboard aggregates', () => {
  it('counts tasks and teams per city, overdue apart', () => {
    const rows = byCity(
      [task('140100', 'accepted'), task('140100', 'dispatched'), task('141000', 'dispatched', true), task('141000', 'dispatched', true)],
      [team('140100', false), team('141000', true)],
    )
    expect(rows.map((r) => r.city)).toEqual(['太原市', '临汾市'])
    expect(rows[0]).toMatchObject({ dispatched: 2, accepted: 1, pending: 1, overdue: 0, teams: 1, reports_missing: 0 })
    expect(rows[1]).toMatchObject({ dispatched: 2, accepted: 0, pending: 2, overdue: 2, teams: 1, reports_missing: 1 })
    const t = totals(rows)
    expect(t).toMatchObject({ dispatched: 4, accepted: 1, overdue: 2, reports_missing: 1, inspected: null, published: null })
  })

  it('counts days to a deadline, negative once past', () => {
    const today = new Date(2022, 10, 18)
    expect(daysUntil('2022-11-20', today)).toBe(2)
    expect(daysUntil('2022-11-10', today)).toBe(-8)
  })
})
