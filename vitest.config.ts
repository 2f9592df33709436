import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'src/**/*.test.tsx', 'test/**/*.test.ts'],
    // The scale-out e2e runs on its own, from scripts/scale-e2e.sh (which sets N1LENS_SCALE_E2E).
    exclude: ['node_modules/**', 'dist/**', ...(process.env.N1LENS_SCALE_E2E === '1' ? [] : ['test/scale-e2e.test.ts'])],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
