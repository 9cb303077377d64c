import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

// The gateway serves dist/ at "/"; `npm run dev` proxies the API to a stack on GATEWAY (default :9600).
const gateway = process.env.GATEWAY ?? 'http://127.0.0.1:9600'

export default defineConfig({
  plugins: [vue()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0, // no data: URLs for scripts; fonts and images as files
    chunkSizeWarningLimit: 1200,
  },
  server: {
    proxy: {
      '/api': gateway,
      '/auth': gateway,
      '/.well-known': gateway,
    },
  },
  test: {
    environment: 'happy-dom',
    include: ['src/**/*.test.ts'],
    testTimeout: 60_000, // a loaded 2-core CI machine transforms Element Plus slowly on first import
  },
} as any)
