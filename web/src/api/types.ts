// Response shapes the screens read. The services answer plain dicts (their OpenAPI says `unknown`),
// so these are written from the services' `*_dict`/`*_out` functions; paths, parameters and request
// bodies are typed by the generated schema.d.ts.
export interface Rule {
  name: string
  categories?: string[] | null
  flags?: string[] | null
  ratio?: string | number | null
  count?: number | null
  note?: string | null
}

export interface Plan {
  id: string
  name: string
  batch: string
  owner_region: string
  catalogue: string
  status: 'draft' | 'approved'
  settings: { window_start: string; window_end: string; report_date: string; [k: string]: unknown }
  rules: Rule[]
  source?: unknown
  version: number
  created_by: string
  approved_by?: string | null
}

export interface Stratum {
  name: string
  population: number
  quota: number
  ratio?: string | number | null
  count?: number | null
  rounding?: string
}

export interface Draw {
  id: string
  plan_id: string
  kind: 'enterprise' | 'inspector'
  enterprise_draw_id?: string | null
  owner_region: string
  status: 'created' | 'frozen' | 'seed_entered' | 'seeded' | 'committed'
  strata: Stratum[] | null
  population_count: number | null
  population_digest: string | null
  seed: string | null
  beacon: string | null
  created_by: string
  frozen_by: string | null
  frozen_at: string | null
  seed_entered_by: string | null
  seed_entered_at: string | null
  seed_confirmed_by: string | null
  seed_confirmed_at: string | null
  committed_by: string | null
  committed_at: string | null
  result_digest: string | null
  algorithm: string | null
  version: number
}

export interface DrawUnit {
  unit_id: string
  stratum: string
  ticket: string | null
  position: number | null
  selected: boolean
  data: { name?: string; region_code?: string; [k: string]: unknown }
}

export interface PublicDraw {
  draw_id: string
  plan_name: string
  batch: string
  kind: string
  owner_region: string
  population_count: number
  population_digest: string
  digest_rule: string
  seed: string
  beacon: string | null
  seed_rule: string
  algorithm: string
  algorithm_version: string
  committed_at: string
  strata: Stratum[]
  selected?: { uscc: string; name: string; region_code: string; stratum: string; ticket: string }[]
  replacements?: { replaced_uscc: string; replacement_uscc: string; reason: string; recorded_at: string }[]
}

export interface Member {
  person_id: string
  name: string
  role: string
  kind?: string
  law_enforcement?: boolean
  organisation?: string
  region_code?: string
  [k: string]: unknown
}

export interface Team {
  id: string
  assignment_id: string
  plan_id: string
  code: string
  label: string
  city_code: string
  categories: string[]
  enterprises: unknown
  report_date: string
  report_submitted_at: string | null
  report_missing?: boolean
  members?: Member[]
  former_members?: Member[]
  shortfalls?: unknown
  version: number
  [k: string]: unknown
}

export interface Task {
  id: string
  plan_id: string
  team_id: string
  uscc: string
  enterprise_name: string
  site_id: string | null
  site_address: string | null
  region_code: string
  city_code: string
  county_code: string | null
  categories: string[]
  status: 'dispatched' | 'accepted'
  dispatched_at: string
  accept_by: string
  accepted_at: string | null
  accepted_by_name: string | null
  bureau_info: Record<string, unknown> | null
  overdue?: boolean
  version: number
  visit?: { id: string; date: string; slot: string }
}

export interface Visit {
  id: string
  team_id: string
  task_id: string
  plan_id: string
  date: string
  slot: number
  uscc: string
  site_id: string | null
  region_code: string
  categories: string[]
}

export interface AuditEntry {
  seq: number
  at: string
  actor: string
  action: string
  entity_type: string
  entity_id: string
  before?: unknown
  after?: unknown
  detail?: unknown
  prev_hash: string
  hash: string
}
