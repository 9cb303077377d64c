import { onBeforeUnmount, ref } from 'vue'

/** True on a phone-width viewport (the on-site layouts switch from tables to cards). */
export function useNarrow(maxWidth = 720) {
  const mq = typeof window !== 'undefined' && window.matchMedia ? window.matchMedia(`(max-width: ${maxWidth}px)`) : null
  const narrow = ref(mq?.matches ?? false)
  const update = () => { narrow.value = mq?.matches ?? false }
  mq?.addEventListener('change', update)
  onBeforeUnmount(() => mq?.removeEventListener('change', update))
  return narrow
}
