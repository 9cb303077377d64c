import { describe, expect, it } from 'vitest'
import { regionName } from './regions'

describe('regionName', () => {
  it('names the province, a city and a county (not a city with a county code)', () => {
    expect(regionName('140000')).toBe('山西省')
    expect(regionName('140100')).toBe('太原市')
    expect(regionName('140105')).toBe('太原市·小店区')
    expect(regionName('141100')).toBe('吕梁市')
  })
  it('keeps what it can for codes it does not know', () => {
    expect(regionName('140199')).toBe('太原市·140199')
    expect(regionName('990000')).toBe('990000')
    expect(regionName(null)).toBe('—')
  })
})
