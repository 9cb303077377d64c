import regionTree from '../../../shared/data/regions.json'

// Shanxi's 11 cities (GB/T 2260), as shared/vocabulary.py names them.
export const CITY_NAMES: Record<string, string> = {
  '140100': '太原市', '140200': '大同市', '140300': '阳泉市', '140400': '长治市', '140500': '晋城市',
  '140600': '朔州市', '140700': '晋中市', '140800': '运城市', '140900': '忻州市', '141000': '临汾市', '141100': '吕梁市',
}

export function cityOf(code: string): string {
  return code && code.length === 6 ? `${code.slice(0, 4)}00` : code
}

interface RegionNode { code: string, name: string, children?: RegionNode[] }

// Every county-level name, from the one list the services use (shared/data/regions.json).
const NAMES: Record<string, string> = {}
;(function walk(node: RegionNode) {
  NAMES[node.code] = node.name
  for (const child of node.children ?? []) walk(child)
})(regionTree as RegionNode)

/** 山西省 / 太原市 / 太原市·小店区; an unknown county code keeps its city and shows the code. */
export function regionName(code: string | null | undefined): string {
  if (!code) return '—'
  if (code === '140000') return '山西省'
  if (CITY_NAMES[code]) return CITY_NAMES[code]
  const city = CITY_NAMES[cityOf(code)]
  const county = NAMES[code]
  if (city && county) return `${city}·${county}`
  return city ? `${city}·${code}` : (county ?? code)
}

export const ROLE_NAMES: Record<string, string> = {
  province_admin: '省局', city_admin: '市局', county_admin: '县局', inspector: '执法人员', expert: '技术专家',
  enterprise: '获证企业', discipline: '驻局纪检监察组', gov_client: '政府系统', credit_system: '信用公示系统',
}

// Product categories (shared/vocabulary.py CATEGORY_NAMES).
export const CATEGORY_NAMES: Record<string, string> = {
  rebar: '建筑用钢筋', cement: '水泥', broadcast_transmission: '广播电视传输设备', rmb_discriminator: '人民币鉴别仪',
  prestressed_railway_beam: '预应力混凝土铁路桥简支梁', wire_cable: '电线电缆', hazardous_chemicals: '危险化学品',
  hazardous_chemical_packaging: '危险化学品包装物及容器', fertilizer: '化肥', food_related: '食品相关产品', ebike: '电动自行车',
  ebike_lithium_battery: '电动自行车用锂离子蓄电池', ebike_charger: '电动自行车用充电器', household_gas_cooker: '家用燃气灶具',
}

export function categories(codes: string[] | null | undefined): string {
  return (codes ?? []).map((c) => CATEGORY_NAMES[c] ?? c).join('、')
}
