/// <reference types="vitest/config" />
// Vite build for the Vigil dashboard. Output: dist/ (index.html + hashed
// assets under dist/assets/), embedded by the gateway. `npm run dev` proxies
// /api and /ws to a gateway at $VIGIL_GATEWAY (default http://127.0.0.1:8080).
import { defineConfig } from 'vite';

const gateway = process.env.VIGIL_GATEWAY ?? 'http://127.0.0.1:8080';

export default defineConfig({
  base: '/',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    target: 'es2020',
    sourcemap: false,
    emptyOutDir: true,
  },
  // the socket worker (src/live/worker.ts) is an ES module worker
  worker: { format: 'es' },
  server: {
    proxy: {
      '/api': { target: gateway, changeOrigin: true },
      '/ws': { target: gateway.replace(/^http/, 'ws'), ws: true },
    },
  },
  test: {
    environment: 'jsdom',
    include: ['test/**/*.test.{ts,tsx}'],
  },
});
