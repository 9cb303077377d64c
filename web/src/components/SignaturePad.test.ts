import { afterEach, describe, expect, it, vi } from 'vitest'
import { mount } from '@vue/test-utils'
import SignaturePad from './SignaturePad.vue'

function pointer(type: string, x: number, y: number, pointerId = 1) {
  // happy-dom's PointerEvent carries clientX/clientY and pointerId like a browser's
  return new PointerEvent(type, { clientX: x, clientY: y, pointerId, bubbles: true, cancelable: true })
}

function mountPad(props: Record<string, unknown> = {}) {
  const w = mount(SignaturePad, { props: { label: '组长签名', width: 200, height: 100, ...props }, attachTo: document.body })
  const canvas = w.find('canvas').element as HTMLCanvasElement
  // the canvas is laid out at its own size at the page's origin
  canvas.getBoundingClientRect = () => ({ left: 0, top: 0, width: 200, height: 100, right: 200, bottom: 100, x: 0, y: 0, toJSON: () => ({}) })
  return { w, canvas }
}

async function stroke(canvas: HTMLCanvasElement, pts: [number, number][], id = 1) {
  canvas.dispatchEvent(pointer('pointerdown', pts[0][0], pts[0][1], id))
  for (const [x, y] of pts.slice(1)) canvas.dispatchEvent(pointer('pointermove', x, y, id))
  canvas.dispatchEvent(pointer('pointerup', pts[pts.length - 1][0], pts[pts.length - 1][1], id))
}

afterEach(() => { vi.restoreAllMocks(); document.body.innerHTML = '' })

describe('SignaturePad', () => {
  it('records a drawn stroke in canvas coordinates and reports ink', async () => {
    const { w, canvas } = mountPad()
    await stroke(canvas, [[10, 10], [40, 30], [80, 50]])
    const vm = w.vm as unknown as { strokes: { x: number; y: number }[][]; hasInk: boolean }
    expect(vm.strokes).toEqual([[{ x: 10, y: 10 }, { x: 40, y: 30 }, { x: 80, y: 50 }]])
    expect(vm.hasInk).toBe(true)
    expect(w.emitted('change')?.at(-1)).toEqual([true])
    expect(w.text()).toContain('已手写签名')
    expect(canvas.getAttribute('aria-label')).toContain('组长签名')
  })

  it('scales the pointer position when the canvas is shown smaller than its drawing size', async () => {
    const { w, canvas } = mountPad()
    canvas.getBoundingClientRect = () => ({ left: 100, top: 50, width: 100, height: 50, right: 200, bottom: 100, x: 100, y: 50, toJSON: () => ({}) })
    await stroke(canvas, [[110, 60], [150, 75], [190, 95]])
    const vm = w.vm as unknown as { strokes: { x: number; y: number }[][] }
    expect(vm.strokes[0]).toEqual([{ x: 20, y: 20 }, { x: 100, y: 50 }, { x: 180, y: 90 }])
  })

  it('ignores moves without a pressed pointer, a tap is not a signature, and clear empties it', async () => {
    const { w, canvas } = mountPad()
    canvas.dispatchEvent(pointer('pointermove', 5, 5))
    const vm = w.vm as unknown as { strokes: unknown[]; hasInk: boolean; clear: () => void; toPng: () => Promise<Blob | null> }
    expect(vm.strokes.length).toBe(0)
    await stroke(canvas, [[5, 5]])
    expect(vm.hasInk).toBe(false)
    expect(await vm.toPng()).toBeNull()
    await stroke(canvas, [[10, 10], [20, 20], [30, 10]])
    expect(vm.hasInk).toBe(true)
    await w.find('button').trigger('click')
    expect(vm.strokes.length).toBe(0)
    expect(vm.hasInk).toBe(false)
    expect(w.emitted('change')?.at(-1)).toEqual([false])
  })

  it('a second finger does not draw into the first stroke; disabled draws nothing', async () => {
    const { w, canvas } = mountPad()
    canvas.dispatchEvent(pointer('pointerdown', 10, 10, 1))
    canvas.dispatchEvent(pointer('pointermove', 90, 90, 2))
    canvas.dispatchEvent(pointer('pointermove', 20, 20, 1))
    canvas.dispatchEvent(pointer('pointerup', 20, 20, 1))
    const vm = w.vm as unknown as { strokes: { x: number; y: number }[][] }
    expect(vm.strokes).toEqual([[{ x: 10, y: 10 }, { x: 20, y: 20 }]])
    const d = mountPad({ disabled: true })
    await stroke(d.canvas, [[10, 10], [20, 20], [30, 30]])
    expect((d.w.vm as unknown as { strokes: unknown[] }).strokes.length).toBe(0)
  })

  it('exports the strokes as a PNG at twice the size on a white background', async () => {
    const calls: string[] = []
    const fake = {
      setTransform: (...a: number[]) => calls.push(`scale ${a[0]}`), fillRect: (_x: number, _y: number, w: number, h: number) => calls.push(`fill ${w}x${h}`),
      beginPath: () => {}, moveTo: (x: number, y: number) => calls.push(`move ${x},${y}`), lineTo: (x: number, y: number) => calls.push(`line ${x},${y}`),
      stroke: () => calls.push('stroke'), set fillStyle(v: string) { calls.push(`fillStyle ${v}`) }, set strokeStyle(_v: string) {},
      set lineWidth(_v: number) {}, set lineCap(_v: string) {}, set lineJoin(_v: string) {},
    }
    vi.spyOn(HTMLCanvasElement.prototype, 'getContext').mockImplementation(() => fake as never)
    const sizes: string[] = []
    vi.spyOn(HTMLCanvasElement.prototype, 'toBlob').mockImplementation(function (this: HTMLCanvasElement, cb: BlobCallback, type?: string) {
      sizes.push(`${this.width}x${this.height}`)
      cb(new Blob(['png'], { type }))
    })
    const { w, canvas } = mountPad()
    await stroke(canvas, [[10, 10], [40, 30], [80, 50]])
    calls.length = 0
    const blob = await (w.vm as unknown as { toPng: () => Promise<Blob | null> }).toPng()
    expect(blob?.type).toBe('image/png')
    expect(sizes).toEqual(['400x200'])
    expect(calls).toEqual(['scale 2', 'fillStyle #ffffff', 'fill 200x100', 'move 10,10', 'line 40,30', 'line 80,50', 'stroke'])
  })
})
