import { describe, expect, it } from 'vitest'
import { safeCell, toCsv } from './format'

describe('CSV written by the browser', () => {
  it('neutralises cells a spreadsheet would run as formulas', () => {
    for (const bad of ['=HYPERLINK("http://x")', '+1+1', '-2', '@SUM(A1)', '\t=1']) {
      expect(safeCell(bad).replace(/^"/, '').startsWith("'")).toBe(true)
    }
    expect(safeCell('太原正诚电缆有限公司')).toBe('太原正诚电缆有限公司')
    expect(safeCell(12)).toBe('12')
    expect(safeCell(null)).toBe('')
  })

  it('quotes separators and starts with a BOM for Excel', () => {
    const csv = toCsv(['名称', '说明'], [['a,b', 'say "hi"']])
    expect(csv.startsWith('\ufeff名称,说明\r\n')).toBe(true)
    expect(csv).toContain('"a,b","say ""hi"""')
  })
})
