// Browser tests: Playwright (playwright-core, no browser download) driving Debian's Chromium against a
// running Spotcheck stack with its demo campaign. Each demo role logs in and walks its main path;
// axe-core checks every main screen; a screenshot of each is written to OUT.
//
//   BASE_URL=http://127.0.0.1:9600 OUT=test-artifacts node e2e/run.mjs
//
// Exit code 0 when every scenario passed, 1 otherwise (the failures are listed).
import { chromium } from 'playwright-core'
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { deflateSync } from 'node:zlib'

const require = createRequire(import.meta.url)
const BASE = (process.env.BASE_URL ?? 'http://127.0.0.1:9600').replace(/\/$/, '')
const OUT = path.resolve(process.env.OUT ?? 'test-artifacts')
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium'
const PASSWORD = process.env.DEMO_PASSWORD ?? 'spotcheck-demo'
const ONLY = process.env.ONLY ? process.env.ONLY.split(',') : null
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8')
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']

mkdirSync(OUT, { recursive: true })
const results = []
const axeReport = {}

function assert(cond, msg) {
  if (!cond) throw new Error(msg)
}

// ------------------------------------------------------------------ API helpers (set-up only)
async function token(username, password = PASSWORD) {
  const r = await fetch(`${BASE}/auth/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'password', username, password }) })
  if (!r.ok) throw new Error(`login ${username}: ${r.status} ${await r.text()}`)
  return (await r.json()).access_token
}

async function apiGet(tok, p) {
  const r = await fetch(`${BASE}${p}`, { headers: { Authorization: `Bearer ${tok}` } })
  if (!r.ok) throw new Error(`GET ${p}: ${r.status} ${await r.text()}`)
  return r.json()
}

const TEST_PASSWORD = 'Web-test-passw0rd!'

/** An account the scenario needs, created by the province (the same call answers 409 when it exists already). */
async function ensureUser(tok, user) {
  const made = await apiPost(tok, '/admin/users', { password: TEST_PASSWORD, ...user }, { 'Idempotency-Key': `web-e2e-${user.username}` })
  assert([200, 201, 409].includes(made.status), `create account ${user.username}: ${made.status} ${JSON.stringify(made.body)}`)
  return user.username
}

async function apiPost(tok, p, body, headers = {}) {
  const r = await fetch(`${BASE}${p}`, { method: 'POST', headers: { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) })
  return { status: r.status, body: await r.json().catch(() => null) }
}

/** A small real PNG (RGB gradient), as a phone camera or a signature pad would send one. */
function pngBuffer(w, h) {
  const crcTable = Array.from({ length: 256 }, (_, n) => { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; return c >>> 0 })
  const crc = (buf) => { let c = 0xffffffff; for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0 }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length)
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data])
    const c = Buffer.alloc(4); c.writeUInt32BE(crc(td))
    return Buffer.concat([len, td, c])
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = 2
  const rows = []
  for (let y = 0; y < h; y++) { const r = [0]; for (let x = 0; x < w; x++) r.push((x * 5) & 255, (y * 7) & 255, 160); rows.push(Buffer.from(r)) }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.concat(rows))), chunk('IEND', Buffer.alloc(0))])
}

// ------------------------------------------------------------------ browser helpers
let browser

async function newPage(viewport = { width: 1366, height: 900 }, extra = {}) {
  const context = await browser.newContext({ viewport, locale: 'zh-CN', timezoneId: 'Asia/Shanghai', reducedMotion: 'reduce', ...extra })
  context.setDefaultTimeout(45000) // a loaded 2-core CI machine
  const page = await context.newPage()
  page.problems = []
  page.on('console', (m) => {
    const t = m.text()
    if (/Content[- ]Security[- ]Policy/i.test(t)) page.problems.push(`CSP: ${t}`)
    else if (m.type() === 'error' && !/Failed to load resource/.test(t)) page.problems.push(`console error: ${t}`)
  })
  page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`))
  return page
}

async function login(page, username, password = PASSWORD) {
  await page.goto(`${BASE}/login`)
  await page.getByLabel('用户名').fill(username)
  await page.getByLabel('密码', { exact: true }).fill(password)
  await page.getByRole('button', { name: '登录' }).click()
  await page.waitForURL((u) => !u.pathname.startsWith('/login'), { timeout: 15000 })
}

/** axe-core on the current page: serious/critical violations fail the scenario. */
async function axe(page, name) {
  // colours are measured when no transition is running (a radio button clicked just before is mid-fade otherwise)
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))))
  await page.evaluate(AXE) // CDP evaluation: not an inline <script>, so the page's CSP stays strict
  const res = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await window.axe.run(document, { resultTypes: ['violations'] })
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length, targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }))
  })
  axeReport[name] = res
  const bad = res.filter((v) => v.impact === 'serious' || v.impact === 'critical')
  assert(!bad.length, `axe (${name}): ${bad.map((v) => `${v.id} [${v.impact}] ${v.help} × ${v.nodes}: ${v.targets.join(' | ')}`).join('; ')}`)
}

async function shot(page, name) {
  await page.waitForTimeout(300)
  await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true })
}

function clean(page) {
  assert(!page.problems.length, page.problems.join('\n'))
}

async function scenario(name, fn) {
  if (ONLY && !ONLY.includes(name)) return
  const t0 = Date.now()
  try {
    await fn()
    results.push({ name, ok: true, ms: Date.now() - t0 })
    console.log(`✓ ${name} (${Date.now() - t0} ms)`)
  } catch (e) {
    results.push({ name, ok: false, ms: Date.now() - t0, error: String(e?.stack ?? e) })
    console.log(`✗ ${name}: ${e?.message ?? e}`)
  }
}

// ------------------------------------------------------------------ scenarios
async function main() {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS, headless: true })
  const P = await token('demo_province')
  const draws = (await apiGet(P, '/api/v1/sampling/draws?limit=100')).items
  const committedEnterprise = draws.find((d) => d.kind === 'enterprise' && d.status === 'committed')
  assert(committedEnterprise, 'the demo campaign committed no enterprise draw')

  await scenario('public-draw', async () => {
    const page = await newPage()
    const resp = await page.goto(`${BASE}/public/draws/${committedEnterprise.id}`)
    const csp = resp.headers()['content-security-policy'] ?? ''
    assert(csp.includes("script-src 'self';"), `CSP header without a strict script-src: ${csp}`)
    await page.getByTestId('pub-digest').waitFor()
    assert((await page.getByTestId('pub-digest').innerText()).trim() === committedEnterprise.population_digest, 'public digest differs from the draw')
    assert((await page.getByTestId('pub-seed').innerText()).trim() === committedEnterprise.seed, 'public seed differs')
    await page.getByText('如何自行复核').waitFor()
    await axe(page, 'public-draw')
    await shot(page, '01-public-draw')
    // an unknown id: the problem's title is shown, no crash
    await page.goto(`${BASE}/public/draws/nope-000`)
    await page.getByRole('alert').first().waitFor()
    assert((await page.getByRole('alert').first().innerText()).includes('不存在'), 'problem title not shown for an unknown draw')
    clean(page)
    await page.context().close()
  })

  await scenario('login-errors-and-session', async () => {
    const page = await newPage()
    await page.goto(`${BASE}/dashboard`)
    await page.waitForURL((u) => u.pathname === '/login')
    await page.getByRole('button', { name: '登录' }).click()
    await page.getByText('请输入用户名').waitFor() // field error next to its field
    await page.getByLabel('用户名').fill('demo_province')
    await page.getByLabel('密码', { exact: true }).fill('wrong-password')
    await page.getByRole('button', { name: '登录' }).click()
    await page.getByRole('alert').getByText('用户名或密码错误').first().waitFor()
    await axe(page, 'login')
    await shot(page, '02-login-error')
    await page.getByLabel('密码', { exact: true }).fill(PASSWORD)
    await page.getByRole('button', { name: '登录' }).click()
    await page.waitForURL((u) => u.pathname === '/dashboard')
    // the refresh token is an httpOnly cookie scoped to /auth/web; nothing is in web storage
    const cookies = await page.context().cookies()
    const rc = cookies.find((c) => c.name === 'spotcheck_refresh')
    assert(rc && rc.httpOnly && rc.sameSite === 'Strict' && rc.path === '/auth/web', `refresh cookie: ${JSON.stringify(rc)}`)
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie)
    assert(!/eyJ/.test(stored) && !stored.includes('spotcheck_refresh'), `token visible to scripts: ${stored}`)
    // a reload keeps the session (refresh through the cookie), logout ends it
    await page.reload()
    await page.getByTestId('who').waitFor()
    await page.getByRole('button', { name: '退出登录' }).click()
    await page.waitForURL((u) => u.pathname === '/login')
    await page.goto(`${BASE}/dashboard`)
    await page.waitForURL((u) => u.pathname === '/login')
    clean(page)
    await page.context().close()
  })

  await scenario('province-dashboard', async () => {
    const page = await newPage()
    await login(page, 'demo_province')
    await page.waitForURL((u) => u.pathname === '/dashboard')
    await page.getByTestId('stats').waitFor({ timeout: 30000 })
    await page.locator('canvas').first().waitFor({ timeout: 30000 })
    await page.getByRole('button', { name: '临汾市' }).click()
    await page.getByRole('heading', { name: /临汾市：检查组与超期任务/ }).waitFor()
    await axe(page, 'dashboard')
    await shot(page, '03-dashboard')
    clean(page)
    await page.context().close()
  })

  await scenario('teams-and-members', async () => {
    const page = await newPage()
    await login(page, 'demo_province')
    await page.goto(`${BASE}/teams`)
    const first = page.locator('.el-table__body a').first()
    await first.waitFor({ timeout: 20000 })
    await first.click()
    await page.getByTestId('members').locator('tbody tr').first().waitFor()
    const text = await page.getByTestId('members').innerText()
    assert(text.includes('组长') && text.includes('副组长'), 'team members without leader/deputy')
    await axe(page, 'teams')
    await shot(page, '04-team-members')
    clean(page)
    await page.context().close()
  })

  await scenario('draw-ceremony-two-officials', async () => {
    const seed = '16180339887498948482045868'
    // the demo campaign committed both draws of its plans: the ceremony runs on a new plan from the
    // notice's template, approved by the second official (set-up through the API)
    const made = await fetch(`${BASE}/api/v1/sampling/plans/from-template/notice-2022-181`, { method: 'POST',
      headers: { Authorization: `Bearer ${P}`, 'Content-Type': 'application/json', 'Idempotency-Key': `e2e-${Date.now()}` }, body: '{}' })
    if (made.status !== 201) throw new Error(`plan from template: ${made.status} ${await made.text()}`)
    const newPlan = await made.json()
    const P2 = await token('demo_province2')
    const approved = await fetch(`${BASE}/api/v1/sampling/plans/${newPlan.id}/approve`, { method: 'POST',
      headers: { Authorization: `Bearer ${P2}`, 'If-Match': made.headers.get('etag') ?? '' } })
    if (!approved.ok) throw new Error(`approve: ${approved.status} ${await approved.text()}`)
    const a = await newPage()
    await login(a, 'demo_province')
    await a.goto(`${BASE}/draws`)
    const planRows = a.locator('.el-table__body tr', { has: a.getByRole('button', { name: '新建抽取' }) })
    await planRows.first().waitFor({ timeout: 20000 })
    await planRows.last().getByRole('button', { name: '新建抽取' }).click()
    await a.getByRole('dialog').getByRole('button', { name: '创建' }).click()
    await a.waitForURL(/\/draws\/[^/]+$/)
    const drawUrl = a.url()
    const drawId = drawUrl.split('/').pop()
    await a.getByRole('button', { name: '冻结总体' }).click()
    await a.getByLabel('种子（掷骰结果）').waitFor({ timeout: 30000 })
    const digest = (await a.getByTestId('digest').innerText()).trim()
    assert(/^[0-9a-f]{64}$/.test(digest), `population digest shown: ${digest}`)
    // too short a seed: refused next to the field, nothing sent
    await a.getByLabel('种子（掷骰结果）').fill('12345')
    await a.getByRole('button', { name: '录入种子' }).click()
    await a.getByText('不少于 20 位').first().waitFor()
    await a.getByLabel('种子（掷骰结果）').fill(seed)
    await a.getByRole('button', { name: '录入种子' }).click()
    await a.getByText('不能由您本人确认').waitFor()
    await axe(a, 'ceremony')
    await shot(a, '05-ceremony-seed-entered')
    // the projector view, as the room sees it
    const proj = await newPage({ width: 1600, height: 900 })
    await login(proj, 'demo_province')
    await proj.goto(`${BASE}/draws/${drawId}/projector`)
    await proj.getByText('种子已录入待确认').waitFor()
    // the second official confirms
    const b = await newPage()
    await login(b, 'demo_province2')
    await b.goto(drawUrl)
    await b.getByLabel('再次输入种子').fill('99999999999999999999999')
    await b.getByRole('button', { name: '确认种子' }).click()
    await b.getByRole('alert').first().waitFor() // a mismatch is refused with the service's problem
    await b.getByLabel('再次输入种子').fill(seed)
    await b.getByRole('button', { name: '确认种子' }).click()
    await b.getByRole('button', { name: '执行抽取并提交' }).click()
    await b.getByRole('heading', { name: '抽中名单' }).waitFor({ timeout: 30000 })
    await b.locator('.el-table__body tr').first().waitFor()
    await b.getByRole('button', { name: '重新计算并比对' }).click()
    await b.getByText('复核结果：一致').waitFor({ timeout: 30000 })
    await shot(b, '06-ceremony-committed')
    await proj.getByText('抽中名单').waitFor({ timeout: 15000 })
    await shot(proj, '07-projector')
    const href = await b.getByTestId('public-link').getAttribute('href')
    const pub = await newPage()
    await pub.goto(href)
    assert((await pub.getByTestId('pub-seed').innerText()).trim() === seed, 'public page shows another seed')
    for (const p of [a, b, proj, pub]) { clean(p); await p.context().close() }
  })

  await scenario('county-accepts-task', async () => {
    // the demo leaves 临汾 and 吕梁 unaccepted; a county bureau account of one of them is created as the province would
    const pending = (await apiGet(P, '/api/v1/scheduling/tasks?status=dispatched&limit=200')).items.filter((t) => t.county_code)
    assert(pending.length, 'no dispatched county task left in the demo campaign')
    const county = pending[0].county_code
    const username = `web_county_${county}`
    const created = await apiPost(P, '/admin/users', { username, display_name: `县局（${county}）`, roles: ['county_admin'], region_code: county, password: 'Web-test-passw0rd!' }, { 'Idempotency-Key': `web-e2e-${username}` })
    assert([201, 200, 409].includes(created.status), `create county account: ${created.status} ${JSON.stringify(created.body)}`)
    const page = await newPage()
    await page.goto(`${BASE}/login`)
    await page.getByLabel('用户名').fill(username)
    await page.getByLabel('密码', { exact: true }).fill('Web-test-passw0rd!')
    await page.getByRole('button', { name: '登录' }).click()
    await page.waitForURL((u) => u.pathname === '/tasks')
    const rows = page.getByTestId('tasks').locator('.el-table__body tr')
    await rows.first().waitFor({ timeout: 20000 })
    const before = await rows.count()
    await axe(page, 'tasks')
    await shot(page, '08-county-inbox')
    await page.getByTestId('tasks').getByRole('button', { name: '接收' }).first().click()
    await page.getByRole('dialog').getByLabel('备注（可选）').fill('已接收，安排人员配合')
    await page.getByRole('dialog').getByRole('button', { name: '确认接收' }).click()
    await page.getByRole('dialog').waitFor({ state: 'hidden' })
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid=tasks] .el-table__body tr').length === n - 1 || document.querySelector('[data-testid=tasks] .el-table__empty-text'), before)
    // supply the bureau info for the accepted task; a missing field is shown next to it
    await page.getByRole('radio', { name: '已接收' }).click({ force: true })
    await page.getByTestId('tasks').getByRole('button', { name: '提供现场信息' }).first().click()
    await page.getByRole('dialog').getByRole('button', { name: '保存' }).click()
    await page.getByRole('dialog').locator('.el-form-item__error').first().waitFor()
    await shot(page, '09-bureau-info-errors')
    await page.getByLabel('现场留存材料清单（每行一项）').fill('生产许可证申请材料\n产品检验报告')
    await page.getByLabel('企业准确位置').fill('工业园区 8 号')
    await page.getByLabel('在岗执法监管人员（用顿号分隔）').fill('张三、李四')
    await page.getByRole('dialog').getByRole('button', { name: '保存' }).click()
    await page.getByRole('dialog').waitFor({ state: 'hidden' })
    clean(page)
    await page.context().close()
  })

  await scenario('phone-inbox', async () => {
    const page = await newPage({ width: 390, height: 844 }, { isMobile: true, hasTouch: true, deviceScaleFactor: 2 })
    await login(page, 'demo_xiaodian')
    await page.waitForURL((u) => u.pathname === '/tasks')
    await page.getByTestId('tasks').waitFor()
    await page.getByRole('radio', { name: '全部' }).click({ force: true })
    await page.locator('[data-testid=tasks] .card').first().waitFor({ timeout: 20000 })
    await axe(page, 'phone-tasks')
    await shot(page, '10-phone-tasks')
    clean(page)
    await page.context().close()
  })

  await scenario('inspector-visits', async () => {
    const page = await newPage()
    await login(page, 'demo_inspector')
    await page.waitForURL((u) => u.pathname === '/visits')
    await page.getByRole('heading', { name: '检查日程' }).waitFor()
    await page.locator('.el-calendar').waitFor()
    await axe(page, 'visits')
    await shot(page, '11-visits')
    clean(page)
    await page.context().close()
  })

  await scenario('discipline-audit', async () => {
    const page = await newPage()
    await login(page, 'demo_discipline')
    await page.waitForURL((u) => u.pathname === '/discipline')
    await page.locator('.el-table__body tr').first().waitFor({ timeout: 20000 })
    await page.getByRole('button', { name: '校验哈希链' }).click()
    await page.getByTestId('chain').waitFor()
    assert((await page.getByTestId('chain').innerText()).includes('哈希链完整'), 'chain not verified')
    await axe(page, 'audit')
    await shot(page, '12-audit')
    // the discipline role has no write screens
    await page.goto(`${BASE}/tasks`)
    await page.getByTestId('tasks').waitFor()
    assert(!(await page.getByRole('button', { name: '接收' }).count()), 'discipline sees an accept button')
    clean(page)
    await page.context().close()
  })

  await scenario('city-admin-scope', async () => {
    const page = await newPage()
    await login(page, 'demo_taiyuan')
    await page.goto(`${BASE}/discipline`)
    await page.getByRole('heading', { name: '无权访问' }).waitFor()
    await page.goto(`${BASE}/dashboard`)
    await page.getByTestId('stats').waitFor({ timeout: 30000 })
    const cities = await page.locator('.el-table__body tr td:first-child').allInnerTexts()
    assert(cities.length && cities.every((c) => c.includes('太原')), `city admin sees other cities: ${cities}`)
    await shot(page, '13-city-dashboard')
    clean(page)
    await page.context().close()
  })

  // ---------------------------------------------------------------- lifecycle (inspection → rectification → disclosure → risk)
  await scenario('public-results-no-login', async () => {
    // what the demo campaign published, read as anyone reads it (no token)
    const r = await fetch(`${BASE}/api/v1/disclosure/public/results?limit=100`)
    assert(r.ok, `public results: ${r.status}`)
    const published = (await r.json()).items
    assert(published.length, 'the demo campaign published no result')
    const one = published[0]
    const page = await newPage()
    await page.goto(`${BASE}/public/results`)
    assert(!page.url().includes('/login'), 'the public results page asks for a login')
    const table = page.getByTestId('public-results')
    await table.locator('.el-table__body tr').first().waitFor({ timeout: 30000 })
    const text = await table.innerText()
    assert(text.includes(one.enterprise_name) || published.length > 20, `published ${one.enterprise_name} not listed`)
    assert(!/\[object Object\]|undefined|\{"/.test(text), 'raw values in the public table')
    await axe(page, 'public-results')
    await shot(page, '14-public-results')
    // search by the enterprise's credit code: only its results remain
    await page.getByLabel('统一社会信用代码').fill(one.uscc)
    await page.getByRole('button', { name: '查询' }).click()
    await page.waitForFunction((u) => {
      const rows = [...document.querySelectorAll('[data-testid="public-results"] .el-table__body tr')]
      return rows.length > 0 && rows.every((tr) => tr.textContent.includes(u))
    }, one.uscc, { timeout: 20000 })
    const row = await table.locator('.el-table__body tr').first().innerText()
    assert(row.includes(one.enterprise_name), `search by ${one.uscc} does not show ${one.enterprise_name}`)
    assert(row.includes(one.categories.map((c) => c.label)[0] ?? ''), 'the result category is not shown')
    await shot(page, '15-public-results-search')
    clean(page)
    await page.context().close()
  })

  await scenario('province-disclosure', async () => {
    const all = (await apiGet(P, '/api/v1/disclosure/results?limit=5')).items
    const page = await newPage()
    await login(page, 'demo_province')
    await page.goto(`${BASE}/disclosure`)
    await page.getByRole('heading', { name: /结果公示/ }).waitFor()
    await page.getByRole('radio', { name: '全部' }).click({ force: true }).catch(() => page.getByText('全部', { exact: true }).first().click())
    if (all.length) await page.locator('.el-table__body tr', { hasText: all[0].enterprise_name }).first().waitFor({ timeout: 30000 })
    const text = await page.locator('.page').innerText()
    assert(!/\[object Object\]|undefined|\{"/.test(text), 'raw values on the disclosure screen')
    await axe(page, 'disclosure')
    await shot(page, '16-disclosure')
    clean(page)
    await page.context().close()
  })

  await scenario('province-rectification', async () => {
    const cases = (await apiGet(P, '/api/v1/rectification/cases?limit=5')).items
    const page = await newPage()
    await login(page, 'demo_province')
    await page.goto(`${BASE}/rectification`)
    await page.getByRole('heading', { name: '整改' }).waitFor()
    if (cases.length) await page.locator('.el-table__body tr', { hasText: cases[0].enterprise_name }).first().waitFor({ timeout: 30000 })
    const text = await page.locator('.page').innerText()
    assert(!/\[object Object\]|undefined|\{"/.test(text), 'raw values on the rectification screen')
    await axe(page, 'rectification')
    await shot(page, '17-rectification')
    clean(page)
    await page.context().close()
  })

  await scenario('province-risk', async () => {
    const classes = (await apiGet(P, '/api/v1/risk/classes?limit=5')).items
    const page = await newPage()
    await login(page, 'demo_province')
    await page.goto(`${BASE}/risk`)
    await page.getByRole('heading', { name: /信用风险分类/ }).waitFor()
    // an open alert acknowledged (If-Match with the listed version): said so, and stored
    const openAlerts = (await apiGet(P, '/api/v1/risk/alerts?status=open&limit=10')).items
    if (openAlerts.length) {
      const al = openAlerts[0]
      await page.getByRole('button', { name: `确认预警：${al.enterprise_name ?? al.uscc}` }).first().click()
      await page.getByRole('status').filter({ hasText: '已确认预警' }).waitFor({ timeout: 20000 })
      const acked = (await apiGet(P, `/api/v1/risk/alerts?status=acknowledged&uscc=${al.uscc}&limit=100`)).items
      assert(acked.some((x) => x.id === al.id && x.acknowledged_by), `alert ${al.id} not acknowledged`)
    }
    if (classes.length) {
      const row = page.locator('.el-table__body tr', { hasText: classes[0].name ?? classes[0].uscc }).first()
      await row.waitFor({ timeout: 30000 })
      assert((await row.innerText()).includes(classes[0].class), 'the risk class letter is not shown')
      await axe(page, 'risk')
      await shot(page, '18-risk')
      await row.locator('a').first().click()
      await page.getByTestId('risk-explain').waitFor({ timeout: 20000 })
      const ex = await page.getByTestId('risk-explain').innerText()
      assert(!/\{"|\[object Object\]/.test(ex), 'raw JSON in the risk explanation')
      await shot(page, '19-risk-explain')
    } else {
      await axe(page, 'risk')
      await shot(page, '18-risk')
    }
    clean(page)
    await page.context().close()
  })

  // ---------------------------------------------------------------- on-site inspection on a phone (issue 13 point 5)
  await scenario('inspector-seals-record', async () => {
    const I = await token('demo_inspector')
    const me = (await apiGet(I, '/auth/me')).person_id
    // a task of one of the inspector's teams that has no record yet (the demo opens records on one team's first six tasks only)
    const tasks = (await apiGet(I, '/api/v1/inspection/tasks?limit=200')).items
    const task = tasks.find((t) => t.status !== 'cancelled' && !t.record)
    assert(task, `demo_inspector (${me}) has no task without a record in the demo campaign`)
    const members = (await apiGet(I, `/api/v1/inspection/teams/${task.team_id}/report`)).members
    const other = members.find((m) => m.person_id !== me && m.law_enforcement)
    assert(other, 'the team has no second law-enforcement officer')
    // the second officer signs on their own phone: an account with their directory number, as the province creates it
    const otherUser = `web_member_${other.person_id.replace(/[^a-z0-9]/gi, '')}`
    const made = await apiPost(P, '/admin/users', { username: otherUser, display_name: other.name ?? other.person_id, roles: ['inspector'], region_code: '140000',
      person_id: other.person_id, password: 'Web-test-passw0rd!' }, { 'Idempotency-Key': `web-e2e-${otherUser}` })
    assert([200, 201, 409].includes(made.status), `create member account: ${made.status} ${JSON.stringify(made.body)}`)

    const page = await newPage({ width: 390, height: 844 }, { isMobile: true, hasTouch: true, deviceScaleFactor: 2 })
    await login(page, 'demo_inspector')
    await page.goto(`${BASE}/inspection`)
    const card = page.locator(`[data-task="${task.id}"]`)
    await card.waitFor({ timeout: 30000 })
    await axe(page, 'inspection-tasks')
    await shot(page, '20-phone-inspection-tasks')
    await card.getByRole('button', { name: /到场签到/ }).click()
    // arrival: the inspector and one more officer present (two law-enforcement officers)
    await page.getByRole('button', { name: '确认到场，开始检查' }).waitFor()
    for (const m of members) await page.locator(`input[type=checkbox][value="${m.person_id}"]`).setChecked([me, other.person_id].includes(m.person_id))
    await page.getByText('执法人员不少于 2 名，已选 2 名').waitFor()
    await axe(page, 'inspection-arrival')
    await shot(page, '21-phone-arrival')
    await page.getByRole('button', { name: '确认到场，开始检查' }).click()
    await page.waitForURL(/\/inspection\/records\/[^/]+$/)
    const recordId = page.url().split('/').pop()

    // the checklist: pre-set 不适用 items show their reason and offer no choice; every other item is answered
    const items = page.getByTestId('checklist-item')
    await items.first().waitFor()
    const all = await items.count()
    const preset = page.locator('[data-testid=checklist-item]:has([data-testid=preset])')
    for (let i = 0; i < await preset.count(); i++) {
      assert(!(await preset.nth(i).locator('input[type=radio]').count()), 'a pre-set 不适用 item offers conclusions')
      assert(/不适用（按适用规则预置，不可修改）：\S+/.test(await preset.nth(i).innerText()), 'a pre-set item without its reason')
    }
    const open = page.locator('[data-testid=checklist-item]:not(:has([data-testid=preset]))')
    const n = await open.count()
    assert(n > 0 && n <= all, `applicable items: ${n} of ${all}`)
    for (let i = 0; i < n; i++) {
      const it = open.nth(i)
      if (i === 0) {
        // 不符合 without a finding is not sent; the finding written, it is saved by itself
        await it.locator('label.choice', { hasText: '不符合' }).click()
        await it.getByText('不符合须写明检查记录').waitFor()
        await it.getByLabel('检查记录（发现的问题，必填）').fill('现场抽查 2 批次出厂检验记录缺失')
        await it.getByLabel('检查记录（发现的问题，必填）').blur()
      } else {
        await it.locator('label.choice').filter({ hasText: /^符合$/ }).click()
      }
      await it.locator('[data-state=saved]').waitFor({ timeout: 20000 })
    }
    // another member saves an item first: this phone's later edit of it is refused (412), said so, and the other's answer shown
    const O = await token(otherUser, 'Web-test-passw0rd!')
    const second = open.nth(n > 1 ? 1 : 0)
    const code = await second.getAttribute('data-code')
    const cur = (await apiGet(O, `/api/v1/inspection/records/${recordId}`)).items.find((x) => x.code === code)
    const put = await fetch(`${BASE}/api/v1/inspection/records/${recordId}/items/${code}`, { method: 'PUT',
      headers: { Authorization: `Bearer ${O}`, 'Content-Type': 'application/json', 'If-Match': `"v${cur.version}"` },
      body: JSON.stringify({ conclusion: 'conforming', text: '另一名检查人员核对后补记' }) })
    assert(put.status === 200, `the other member's save: ${put.status} ${await put.text()}`)
    if (n > 1) {
      await second.getByRole('button', { name: /添加备注或证据/ }).click()
      await second.getByLabel('检查记录（备注，可选）').fill('本机的备注')
      await second.getByLabel('检查记录（备注，可选）').blur()
      await second.getByText('该项目已被本组其他成员修改并保存').waitFor({ timeout: 20000 })
      await page.getByText(`检查项目 ${code} 已被本组其他成员修改`).waitFor()
      await page.waitForFunction((c) => document.querySelector(`[data-code="${c}"] textarea`)?.value === '另一名检查人员核对后补记', code)
      await shot(page, '22a-phone-conflict')
    }
    // a photo from the "camera" on the item with the finding (a real PNG made here), with its progress and thumbnail
    const first = open.first()
    await first.getByTestId('evidence-file').setInputFiles({ name: '现场照片.png', mimeType: 'image/png', buffer: pngBuffer(48, 32) })
    await first.getByTestId('evidence-item').waitFor({ timeout: 20000 })
    await first.locator('[data-testid=evidence-item] img').waitFor({ timeout: 20000 })
    await page.getByText(`适用项已填 ${n}/${n}`).waitFor()
    await axe(page, 'inspection-checklist')
    await shot(page, '22-phone-checklist')

    // signatures drawn on screen: the inspector here, the second officer on their phone (API), the enterprise's person here
    const drawOn = async (canvas) => {
      await canvas.scrollIntoViewIfNeeded()
      const b = await canvas.boundingBox()
      await page.mouse.move(b.x + b.width * 0.1, b.y + b.height * 0.6)
      await page.mouse.down()
      for (let k = 1; k <= 12; k++) await page.mouse.move(b.x + b.width * (0.1 + k * 0.06), b.y + b.height * (0.6 - 0.3 * Math.sin(k / 2)), { steps: 2 })
      await page.mouse.up()
    }
    await drawOn(page.getByTestId('signature-canvas').first())
    await page.getByRole('button', { name: '确认签字' }).click()
    await page.locator('.signers li[data-signed=true]').first().waitFor()
    const up = await fetch(`${BASE}/api/v1/inspection/records/${recordId}/evidence/upload?purpose=signature&filename=sig.png`, {
      method: 'POST', headers: { Authorization: `Bearer ${O}`, 'Content-Type': 'application/octet-stream' }, body: pngBuffer(60, 20) })
    const upBody = await up.json()
    assert(up.status === 201, `second officer's signature upload: ${up.status} ${JSON.stringify(upBody)}`)
    const signed = await apiPost(O, `/api/v1/inspection/records/${recordId}/signatures`, { image_sha256: upBody.sha256 })
    assert(signed.status === 201, `second officer signs: ${signed.status} ${JSON.stringify(signed.body)}`)
    await page.getByRole('button', { name: '刷新' }).click()
    await page.waitForFunction(() => document.querySelectorAll('.signers li[data-signed=true]').length === 2)
    await page.getByLabel('姓名').fill('王建国')
    await page.getByLabel('职务').fill('总经理')
    await drawOn(page.getByTestId('signature-canvas').last())
    await page.getByRole('button', { name: '保存企业负责人确认' }).click()
    await page.getByTestId('enterprise-confirmed').waitFor()
    await shot(page, '23-phone-signatures')

    // seal, after the confirmation dialog; the record is then read-only
    await page.getByRole('button', { name: '提交并封存' }).click()
    await page.getByRole('dialog').getByRole('button', { name: '确认提交封存' }).click()
    await page.getByTestId('record-state').filter({ hasText: '已提交封存' }).waitFor({ timeout: 30000 })
    assert(!(await page.locator('[data-testid=checklist-item] input[type=radio]:not([disabled])').count()), 'a sealed record still offers conclusions')
    assert(!(await page.locator('[data-testid=checklist-item] textarea:not([readonly])').count()), 'a sealed record still has editable text')
    assert(!(await page.getByRole('button', { name: '提交并封存' }).count()), 'the submit button is still shown after sealing')
    assert(!(await page.getByRole('button', { name: '拍照' }).count()) && !(await page.getByTestId('evidence-file').count()), 'evidence can still be added')
    const sealed = await apiGet(I, `/api/v1/inspection/records/${recordId}`)
    assert(sealed.state === 'sealed' && /^[0-9a-f]{64}$/.test(sealed.content_hash), `record not sealed: ${sealed.state}`)

    // the 问题汇总表: generated from the open finding, previewed, its PDF answers 200
    await page.getByRole('button', { name: '生成问题汇总表' }).click()
    const lic = page.getByLabel('生产许可证编号')
    await Promise.race([page.getByTestId('summary-state').waitFor({ timeout: 30000 }), lic.waitFor({ timeout: 30000 })])
    if (await lic.count()) { // the registry sent no licence for this enterprise: the team types it
      await lic.fill('(晋)XK16-204-00001')
      await page.getByLabel('有效期至').fill('2027-12-31')
      await page.getByRole('button', { name: '生成问题汇总表' }).click()
      await page.getByTestId('summary-state').waitFor({ timeout: 30000 })
    }
    assert((await page.getByTestId('problem-summary').innerText()).includes('现场抽查 2 批次出厂检验记录缺失'), 'the finding is not in the summary preview')
    const [pdf] = await Promise.all([
      page.waitForResponse((r) => /\/problem-summaries\/[^/]+\/form\.pdf$/.test(new URL(r.url()).pathname), { timeout: 60000 }),
      page.getByTestId('summary-pdf').click(),
    ])
    assert(pdf.status() === 200 && (pdf.headers()['content-type'] ?? '').startsWith('application/pdf'), `summary PDF: ${pdf.status()} ${pdf.headers()['content-type']}`)
    await axe(page, 'inspection-sealed')
    await shot(page, '24-phone-sealed-summary')

    // a correction after sealing (four eyes): proposed on this phone; the team member the rules name decides it on
    // theirs (a member's amendment goes to the leader, the leader's to the deputy); otherwise the proposer withdraws it
    const roleOf = (pid) => members.find((m) => m.person_id === pid)?.role
    const decider = roleOf(me) === 'leader' ? 'deputy' : 'leader'
    const firstCode = await open.first().getAttribute('data-code')
    await page.getByRole('button', { name: '提出更正…' }).click()
    await page.getByLabel('更正理由').fill('现场记录漏记批次号，补记')
    await page.locator('#am-code-0').selectOption(firstCode)
    await page.locator('fieldset.change label.choice', { hasText: '不符合' }).click()
    await page.locator('#am-text-0').fill('现场抽查 2 批次（20261101、20261102）出厂检验记录缺失')
    assert(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'the correction form makes the phone page scroll sideways')
    await axe(page, 'inspection-amendment')
    await page.getByRole('button', { name: '提交更正，报组长批准' }).click()
    await page.getByRole('status').filter({ hasText: '更正已提出，待组长批准' }).waitFor({ timeout: 30000 })
    await page.locator('[data-testid=amendments] li[data-status=pending]').waitFor()
    await shot(page, '24a-phone-amendment-proposed')
    let decided
    if (roleOf(other.person_id) === decider) {
      const lp = await newPage({ width: 390, height: 844 }, { isMobile: true, hasTouch: true, deviceScaleFactor: 2 })
      await login(lp, otherUser, 'Web-test-passw0rd!')
      await lp.goto(`${BASE}/inspection/records/${recordId}`)
      await lp.getByLabel('意见（可选）').fill('核对现场照片无误')
      await lp.getByRole('button', { name: '批准更正' }).click()
      await lp.getByRole('dialog').getByRole('button', { name: '批准', exact: true }).click()
      await lp.locator('[data-testid=amendments] li[data-status=approved]').waitFor({ timeout: 30000 })
      assert((await lp.getByTestId('amendments').innerText()).includes('更正后内容哈希'), 'the approved amendment shows no content hash')
      await shot(lp, '24b-phone-amendment-approved')
      clean(lp)
      await lp.context().close()
      decided = 'approved'
    } else {
      assert(!(await page.getByRole('button', { name: '批准更正' }).count()), 'the proposer is offered to approve their own amendment')
      await page.getByRole('button', { name: '撤回本人的更正' }).click()
      await page.getByRole('dialog').getByRole('button', { name: '撤回', exact: true }).click()
      await page.locator('[data-testid=amendments] li[data-status=rejected]').waitFor({ timeout: 30000 })
      decided = 'rejected'
    }
    console.log(`  amendment: proposed by ${roleOf(me)}, ${decided} (${decided === 'approved' ? `by the ${decider}` : 'withdrawn by the proposer'})`)
    let amended = await apiGet(I, `/api/v1/inspection/records/${recordId}`)
    let am = amended.amendments.at(-1)
    assert(am.status === decided && am.changes[0].code === firstCode && am.reason === '现场记录漏记批次号，补记', `amendment not stored: ${JSON.stringify(am)}`)
    if (decided === 'rejected' && roleOf(me) === 'leader') {
      // the leader approves on this phone the other member's amendment (proposed on theirs, here through the API)
      const prop = await apiPost(O, `/api/v1/inspection/records/${recordId}/amendments`, { reason: '补记抽查批次号',
        changes: [{ code: firstCode, conclusion: 'nonconforming', text: '现场抽查 2 批次（20261101、20261102）出厂检验记录缺失', fixed_on_site: false }] },
      { 'Idempotency-Key': `web-e2e-amend-${recordId}` })
      assert(prop.status === 201, `the member's amendment: ${prop.status} ${JSON.stringify(prop.body)}`)
      await page.reload()
      await page.getByLabel('意见（可选）').fill('核对现场照片无误')
      await page.getByRole('button', { name: '批准更正' }).click()
      await page.getByRole('dialog').getByRole('button', { name: '批准', exact: true }).click()
      await page.locator('[data-testid=amendments] li[data-status=approved]').waitFor({ timeout: 30000 })
      await shot(page, '24b-phone-amendment-approved')
      decided = 'approved'
      console.log('  amendment: the member\'s, approved by the leader')
      amended = await apiGet(I, `/api/v1/inspection/records/${recordId}`)
      am = amended.amendments.at(-1)
      assert(am.status === 'approved' && am.decision_note === '核对现场照片无误', `approval not stored: ${JSON.stringify(am)}`)
    }
    if (decided === 'approved') {
      assert(/^[0-9a-f]{64}$/.test(amended.current_hash) && amended.current_hash !== amended.content_hash, 'the approved amendment did not move the current hash')
      assert(amended.current_items.find((x) => x.code === firstCode).record.includes('20261101'), 'the current items do not carry the amendment')
      const shown = page.locator(`[data-code="${firstCode}"] [data-testid=item-amended]`)
      if (await shown.count()) assert((await shown.innerText()).includes('20261101'), 'the item does not show its approved correction')
      else { // approved on the other member's phone: this one shows it after a reload
        await page.reload()
        await shown.waitFor({ timeout: 30000 })
        assert((await shown.innerText()).includes('20261101'), 'the item does not show its approved correction')
      }
    }
    clean(page)
    await page.context().close()
  })

  // ---------------------------------------------------------------- enterprise portal and publishing (issue 13)
  await scenario('enterprise-uploads-rectification', async () => {
    // an open case with an open problem, and an enterprise account bound to its credit code
    const open = (await apiGet(P, '/api/v1/rectification/cases?status=open&limit=100')).items
    let kase = null
    let problem = null
    for (const c of open) {
      const d = await apiGet(P, `/api/v1/rectification/cases/${c.id}`)
      problem = d.problems.find((x) => x.status === 'open')
      if (problem) { kase = d; break }
    }
    assert(kase, 'the demo campaign left no open rectification case with an open problem')
    // the account's region covers the enterprise's registered seat (the case's region is its inspected site's)
    const seat = (await apiGet(P, `/api/v1/registry/enterprises/${kase.uscc}`)).region_code
    const username = await ensureUser(P, { username: `web_ent_${kase.uscc}`.toLowerCase(), display_name: kase.enterprise_name, roles: ['enterprise'],
      region_code: seat, uscc: kase.uscc })
    const page = await newPage()
    await login(page, username, TEST_PASSWORD)
    await page.goto(`${BASE}/enterprise`)
    await page.getByRole('heading', { name: /企业服务/ }).waitFor()
    const row = page.getByTestId('ent-cases').locator('.el-table__body tr', { hasText: kase.enterprise_name }).first()
    await row.waitFor({ timeout: 30000 })
    const portal = await page.locator('.page').innerText()
    assert(portal.includes(kase.uscc), 'the portal does not show the enterprise\'s credit code')
    assert(!/\[object Object\]|undefined|NaN|\{"/.test(portal), 'raw values on the enterprise portal')
    await axe(page, 'enterprise-portal')
    await shot(page, '25-enterprise-portal')
    // the enterprise sees only its own cases
    const others = await page.getByTestId('ent-cases').locator('.el-table__body tr').allInnerTexts()
    assert(others.every((t) => t.includes(kase.enterprise_name)), `another enterprise's case on the portal: ${others}`)

    await page.goto(`${BASE}/rectification/cases/${kase.id}`)
    const probRow = page.getByTestId('case-problems').locator('.el-table__body tr').nth(kase.problems.indexOf(problem))
    await probRow.getByRole('button', { name: '报告整改' }).click()
    await page.getByRole('heading', { name: `报告第 ${problem.no} 项问题的整改情况` }).waitFor()
    const text = `已补齐出厂检验记录并建立台账（e2e ${Date.now()}）`
    await page.getByLabel('整改情况说明').fill(text)
    await page.getByTestId('report-evidence').setInputFiles({ name: '整改照片.png', mimeType: 'image/png', buffer: pngBuffer(64, 40) })
    await page.locator('.evidence li[data-state=done]').waitFor({ timeout: 30000 })
    assert((await page.locator('.evidence li').innerText()).includes('已上传'), 'the upload is not said to be done')
    await axe(page, 'enterprise-case-report')
    await shot(page, '26-enterprise-case-report')
    await page.getByRole('button', { name: '提交整改报告' }).click()
    await page.getByRole('status').filter({ hasText: `第 ${problem.no} 项问题的整改情况已提交` }).waitFor({ timeout: 30000 })
    // the confirmation may come before the case is read again: wait for the row to carry the report
    const reported = page.getByTestId('case-problems').locator('.el-table__body tr', { hasText: text }).first()
    await reported.waitFor({ timeout: 30000 }).catch(() => {})
    const shown = await page.getByTestId('case-problems').locator('.el-table__body tr').nth(kase.problems.indexOf(problem)).innerText()
    assert(shown.includes(text) && shown.includes('证据 1 份'), `the report is not shown on the case: ${shown}`)
    await page.getByRole('heading', { name: '证据文件' }).waitFor()
    await axe(page, 'enterprise-case')
    await shot(page, '27-enterprise-case-reported')
    // stored: the problem is reported with the uploaded file, which the case lists
    const after = await apiGet(P, `/api/v1/rectification/cases/${kase.id}`)
    const p2 = after.problems.find((x) => x.no === problem.no)
    assert(p2.status === 'reported' && p2.report_text === text && p2.report_evidence.length === 1, `report not stored: ${JSON.stringify(p2)}`)
    const ev = after.evidence.find((e) => e.sha256 === p2.report_evidence[0])
    assert(ev && ev.media_type === 'image/png', `evidence not stored: ${JSON.stringify(after.evidence)}`)
    clean(page)
    await page.context().close()
  })

  await scenario('result-published-public', async () => {
    const pending = (await apiGet(P, '/api/v1/disclosure/results?status=pending&limit=100')).items
    assert(pending.length, 'the demo campaign left no result 待录入')
    const res = pending[0]
    // the enterer is of the result's bureau (county, or the city when the city inspected), the reviewer of the city
    const enterer = res.county_code
      ? await ensureUser(P, { username: `web_county_${res.county_code}`, display_name: `县局（${res.county_code}）`, roles: ['county_admin'], region_code: res.county_code })
      : await ensureUser(P, { username: `web_city_${res.city_code}_entry`, display_name: `市局录入（${res.city_code}）`, roles: ['city_admin'], region_code: res.city_code })
    const reviewer = await ensureUser(P, { username: `web_city_${res.city_code}`, display_name: `市局（${res.city_code}）`, roles: ['city_admin'], region_code: res.city_code })

    const a = await newPage()
    await login(a, enterer, TEST_PASSWORD)
    await a.goto(`${BASE}/disclosure/results/${res.id}`)
    await a.getByRole('heading', { name: `检查结果：${res.enterprise_name}` }).waitFor()
    await a.getByRole('heading', { name: '录入检查结果' }).waitFor()
    // the team's suggestion is pre-filled; without one the entry is chosen here
    const item = (id) => a.locator('.el-form-item', { has: a.locator(id) })
    if (!(await item('#res-cats').locator('.el-tag').count())) {
      await a.getByLabel('检查结果', { exact: true }).click()
      await a.getByRole('option', { name: '未发现问题', exact: true }).click()
      await a.keyboard.press('Escape')
    }
    if (!/停止检查|无需后续处置|责令改正；|案件线索|抄告相关部门|其他/.test(await item('#res-follow').innerText())) {
      await a.getByLabel('后续处置措施', { exact: true }).click()
      await a.getByRole('option', { name: '未发现问题或相关问题已规范、已改正，无需后续处置' }).click()
    }
    await a.getByLabel('备注').fill('浏览器测试录入')
    await axe(a, 'result-entry')
    await shot(a, '28-result-entry')
    await a.getByRole('button', { name: '提交审核' }).click()
    await a.getByRole('status').filter({ hasText: '已录入，待另一名工作人员审核' }).waitFor({ timeout: 30000 })
    await a.getByTestId('result-status').filter({ hasText: '待审核' }).waitFor()
    await a.getByText('录入人不能审核自己录入的结果').waitFor() // no review form for the enterer
    clean(a)
    await a.context().close()

    const b = await newPage()
    await login(b, reviewer, TEST_PASSWORD)
    await b.goto(`${BASE}/disclosure/results/${res.id}`)
    await b.getByRole('heading', { name: '审核', exact: true }).waitFor()
    await b.getByLabel('审核意见').fill('核对无误')
    await axe(b, 'result-review')
    await shot(b, '29-result-review')
    await b.getByRole('button', { name: '审核通过并公示' }).click()
    await b.getByRole('status').filter({ hasText: '审核通过，结果已公示' }).waitFor({ timeout: 30000 })
    await b.getByTestId('result-status').filter({ hasText: '已公示' }).waitFor()
    await b.getByRole('heading', { name: '更正已公示的结果' }).waitFor()
    await shot(b, '30-result-published')
    clean(b)
    await b.context().close()

    // anyone, without a login, finds it on the public results
    const pub = await newPage()
    await pub.goto(`${BASE}/public/results`)
    await pub.getByLabel('统一社会信用代码').fill(res.uscc)
    await pub.getByRole('button', { name: '查询' }).click()
    const table = pub.getByTestId('public-results')
    await table.locator('.el-table__body tr', { hasText: res.enterprise_name }).first().waitFor({ timeout: 30000 })
    assert(!pub.url().includes('/login'), 'the public results page asks for a login')
    await axe(pub, 'public-results-published')
    await shot(pub, '31-public-result-published')
    clean(pub)
    await pub.context().close()

    // a correction of the published result, entered by the city and approved by the other official; then withdrawn
    const cur = await apiGet(P, `/api/v1/disclosure/results/${res.id}`)
    const newFollow = cur.follow_up === 'other' ? '未发现问题或相关问题已规范、已改正，无需后续处置' : '其他'
    const c1 = await newPage()
    await login(c1, reviewer, TEST_PASSWORD)
    await c1.goto(`${BASE}/disclosure/results/${res.id}`)
    await c1.getByRole('heading', { name: '更正已公示的结果' }).waitFor()
    await c1.locator('.el-form-item', { has: c1.locator('#res-follow') }).locator('.el-select__wrapper').click()
    await c1.getByRole('option', { name: newFollow, exact: true }).click()
    await c1.getByLabel('更正理由').fill('后续处置措施录入有误')
    await c1.getByRole('button', { name: '发布更正' }).click()
    await c1.getByRole('status').filter({ hasText: '更正已提交，待另一名工作人员审核' }).waitFor({ timeout: 30000 })
    await c1.getByTestId('pending-correction').getByText('录入人不能审核自己录入的更正').waitFor()
    await shot(c1, '32-result-correction-entered')

    const c2 = await newPage()
    await login(c2, enterer, TEST_PASSWORD)
    await c2.goto(`${BASE}/disclosure/results/${res.id}`)
    await c2.getByRole('heading', { name: '更正审核' }).waitFor()
    await axe(c2, 'result-correction-review')
    await c2.getByRole('button', { name: '审核通过并公示更正' }).click()
    await c2.getByRole('status').filter({ hasText: '更正审核通过，已公示为新版本' }).waitFor({ timeout: 30000 })
    await c2.getByTestId('corrections').locator('.el-table__body tr', { hasText: '已公示' }).first().waitFor()
    clean(c2)
    await c2.context().close()

    await c1.reload()
    await c1.getByRole('heading', { name: '撤回已公示的结果' }).waitFor()
    await c1.getByLabel('撤回理由').fill('该企业不属于本次抽查范围，误公示')
    await axe(c1, 'result-withdrawal')
    await c1.getByRole('button', { name: '撤回', exact: true }).click()
    await c1.getByRole('dialog').getByRole('button', { name: '确认撤回' }).click()
    await c1.getByRole('status').filter({ hasText: '结果已撤回' }).waitFor({ timeout: 30000 })
    await c1.getByTestId('result-status').filter({ hasText: '已撤回' }).waitFor()
    await shot(c1, '33-result-withdrawn')
    clean(c1)
    await c1.context().close()
    const kinds = (await apiGet(P, `/api/v1/disclosure/results/${res.id}/versions`)).items.map((v) => v.kind)
    assert(JSON.stringify(kinds.slice(-3)) === JSON.stringify(['published', 'corrected', 'withdrawn']), `versions: ${kinds}`)
  })

  await scenario('province-subscriptions', async () => {
    // a subscription of this test's own, switched off at once (the demo receiver's stays as it is), to the receiver's address
    const subs = (await apiGet(P, '/api/v1/disclosure/subscriptions?limit=50')).items
    assert(subs.length, 'the demo left no webhook subscription')
    const label = `e2e：密钥轮换与停用 ${Date.now()}`
    const made = await apiPost(P, '/api/v1/disclosure/subscriptions', { url: subs[0].url, description: label }, { 'Idempotency-Key': `web-e2e-sub-${Date.now()}` })
    assert(made.status === 201, `create subscription: ${made.status} ${JSON.stringify(made.body)}`)
    const off = await fetch(`${BASE}/api/v1/disclosure/subscriptions/${made.body.id}`, { method: 'PATCH',
      headers: { Authorization: `Bearer ${P}`, 'Content-Type': 'application/json', 'If-Match': `"v${made.body.version}"` }, body: JSON.stringify({ active: false }) })
    assert(off.status === 200, `switch off: ${off.status} ${await off.text()}`)
    const page = await newPage()
    await login(page, 'demo_province')
    await page.goto(`${BASE}/disclosure/subscriptions`)
    await page.getByRole('heading', { name: '公示订阅与投递日志' }).waitFor()
    await page.locator('.el-table__body tr', { hasText: subs[0].url }).first().waitFor({ timeout: 30000 }) // the first page is there
    let row = page.locator('.el-table__body tr', { hasText: label }).first()
    while (!(await row.count())) { // the list pages by 20
      const next = page.getByRole('button', { name: /下一页/ }).first()
      assert(await next.isEnabled(), 'the new subscription is not listed')
      await next.click()
      await page.waitForTimeout(500)
      row = page.locator('.el-table__body tr', { hasText: label }).first()
    }
    await page.getByLabel('轮换密钥时旧密钥继续有效').fill('2')
    await row.getByRole('button', { name: '轮换密钥' }).click()
    await page.getByRole('dialog').getByRole('button', { name: '生成新密钥' }).click()
    await page.getByTestId('rotated-secret').waitFor({ timeout: 30000 })
    const secret = (await page.getByTestId('rotated-secret').locator('code').innerText()).trim()
    assert(/^whsec_[A-Za-z0-9+/=]{20,}$/.test(secret) && secret !== made.body.secret, `the rotated secret: ${secret}`)
    await axe(page, 'subscriptions')
    await shot(page, '34-subscriptions-rotated')
    const after = await apiGet(P, `/api/v1/disclosure/subscriptions/${made.body.id}`)
    assert(after.secrets.length === 2 && after.secrets.some((k) => k.expires_at) && secret.startsWith(after.secrets.find((k) => !k.expires_at).prefix.replace('…', '')),
      `two signing keys during the overlap: ${JSON.stringify(after.secrets)}`)
    await row.getByRole('button', { name: '启用' }).click()
    await page.getByRole('status').filter({ hasText: '已启用' }).waitFor({ timeout: 30000 })
    await row.getByRole('button', { name: '停用' }).click()
    await page.getByRole('dialog').getByRole('button', { name: '停用' }).click()
    await page.getByRole('status').filter({ hasText: '已停用' }).waitFor({ timeout: 30000 })
    assert(!(await apiGet(P, `/api/v1/disclosure/subscriptions/${made.body.id}`)).active, 'the subscription is still active')
    clean(page)
    await page.context().close()
  })

  await browser.close()
  writeFileSync(path.join(OUT, 'axe.json'), JSON.stringify(axeReport, null, 1))
  writeFileSync(path.join(OUT, 'results.json'), JSON.stringify(results, null, 1))
  const failed = results.filter((r) => !r.ok)
  console.log(`\n${results.length - failed.length}/${results.length} browser scenarios passed; screenshots in ${OUT}`)
  for (const f of failed) console.log(`\n--- ${f.name}\n${f.error}`)
  process.exit(failed.length ? 1 : 0)
}

main().catch(async (e) => {
  console.error(e)
  try { await browser?.close() } catch { /* already gone */ }
  process.exit(1)
})
