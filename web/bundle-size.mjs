// Initial JS of the built app (the entry and what index.html preloads), gzip -9, and the JS a first
// visit to /login needs. `node bundle-size.mjs [limitKB]` exits 1 over the limit (default 400).
import { readFileSync, readdirSync } from 'node:fs'
import { gzipSync } from 'node:zlib'

const limit = Number(process.argv[2] ?? 400)
const html = readFileSync('dist/index.html', 'utf8')
const gz = (p) => gzipSync(readFileSync(`dist/${p}`), { level: 9 }).length
const initial = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.js)"/g)].map((m) => m[1])
function closure(start, seen = new Set()) {
  for (const p of start) {
    if (seen.has(p)) continue
    seen.add(p)
    const src = readFileSync(`dist/${p}`, 'utf8')
    closure([...src.matchAll(/(?:from|import)\s*"\.\/([^"]+\.js)"/g)].map((m) => `assets/${m[1]}`), seen)
  }
  return seen
}
const kb = (set) => [...set].reduce((n, p) => n + gz(p), 0) / 1024
const entry = closure(initial)
const login = readdirSync('dist/assets').find((f) => f.startsWith('LoginView') && f.endsWith('.js'))
const withLogin = closure([`assets/${login}`], new Set(entry))
const initialKb = kb(entry)
console.log(`initial JS (entry + preloads): ${initialKb.toFixed(1)} KB gzip in ${entry.size} files; with the login page: ${kb(withLogin).toFixed(1)} KB`)
process.exit(initialKb <= limit ? 0 : 1)
