import { defineConfig } from "vite";
import solid from "vite-plugin-solid";

// The API and previews live on the server; in dev and preview Vite forwards them so the
// dashboard can keep using same-origin URLs, exactly as when the server serves dist/.
const api = process.env.MEDIA_API_URL ?? "http://localhost:8080";
const proxy = { "/media.v1.": api, "/preview": api, "/healthz": api };

export default defineConfig({
  plugins: [solid()],
  server: { proxy },
  preview: { proxy },
  build: { outDir: "dist", target: "es2022" },
});
