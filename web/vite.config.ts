import { defineConfig } from 'vite';

// Plain Preact through esbuild's automatic JSX runtime: no plugin needed. Hashed names under
// /assets/ are what the console component caches for a year.
export default defineConfig({
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: { outDir: 'dist', assetsDir: 'assets', assetsInlineLimit: 0, sourcemap: false },
});
