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

async function apiPost(tok, p, body, headers = {}) {
  const r = await fetch(`${BASE}${p}`, { method: 'POST', headers: { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) })
  return { status: r.status, body: await r.json().catch(() => null) }
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

async function login(page, username) {
  await page.goto(`${BASE}/login`)
  await page.getByLabel('用户名').fill(username)
  await page.getByLabel('密码', { exact: true }).fill(PASSWORD)
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
