// The example pages, built into dist/ with the same layout: the server serves dist/ at
// /examples/, so the landing page is /examples/, the others /examples/search/ and
// /examples/dashboard/. Scripts and styles go to dist/assets/; nothing is loaded from any
// other host.
import { resolve } from "node:path";
import { defineConfig } from "vite";

const page = (path: string) => resolve(import.meta.dirname, path);

export default defineConfig({
  base: "/examples/",
  root: import.meta.dirname,
  // No public/ directory: every file the pages need is referenced from their HTML.
  publicDir: false,
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // Vite 8 bundles with Rolldown: `rolldownOptions` is what `rollupOptions` was.
    rolldownOptions: {
      input: {
        landing: page("index.html"),
        search: page("search/index.html"),
        dashboard: page("dashboard/index.html"),
      },
    },
  },
});
