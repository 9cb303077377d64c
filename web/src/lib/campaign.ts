// Aggregates for the 省局 dashboard, computed from the scheduling lists (pure, unit-tested).
import type { Task, Team } from '../api/types'
import { CITY_NAMES, cityOf } from './regions'

export interface CityRow {
  city_code: string
  city: string
  dispatched: number
  accepted: number
  pending: number
  overdue: number
  teams: number
  reports_missing: number
  // filled when the lifecycle services answer (null: not available)
  inspected: number | null
  problems: number | null
  rectified: number | null
  published: number | null
}

export function byCity(tasks: Task[], teams: Team[]): CityRow[] {
  const rows = new Map<string, CityRow>()
  const row = (code: string): CityRow => {
    let r = rows.get(code)
    if (!r) {
      r = { city_code: code, city: CITY_NAMES[code] ?? code, dispatched: 0, accepted: 0, pending: 0, overdue: 0, teams: 0,
        reports_missing: 0, inspected: null, problems: null, rectified: null, published: null }
      rows.set(code, r)
    }
    return r
  }
  for (const t of tasks) {
    const r = row(t.city_code || cityOf(t.region_code))
    r.dispatched += 1
    if (t.status === 'accepted') r.accepted += 1
    else r.pending += 1
    if (t.overdue) r.overdue += 1
  }
  for (const t of teams) {
    const r = row(t.city_code)
    r.teams += 1
    if (t.report_missing) r.reports_missing += 1
  }
  return [...rows.values()].sort((a, b) => a.city_code.localeCompare(b.city_code))
}

export function totals(rows: CityRow[]): Omit<CityRow, 'city_code' | 'city'> {
  const sum = (k: keyof CityRow) => rows.reduce((n, r) => n + (typeof r[k] === 'number' ? (r[k] as number) : 0), 0)
  const anyOf = (k: keyof CityRow) => (rows.some((r) => r[k] !== null) ? sum(k) : null)
  return {
    dispatched: sum('dispatched'), accepted: sum('accepted'), pending: sum('pending'), overdue: sum('overdue'),
    teams: sum('teams'), reports_missing: sum('reports_missing'),
    inspected: anyOf('inspected'), problems: anyOf('problems'), rectified: anyOf('rectified'), published: anyOf('published'),
  }
}

/** Days from `today` to an ISO date (negative: past). */
export function daysUntil(date: string, today = new Date()): number {
  const d = new Date(`${date}T00:00:00`)
  const t = new Date(today.getFullYear(), today.getMonth(), today.getDate())
  return Math.round((d.getTime() - t.getTime()) / 86_400_000)
}
