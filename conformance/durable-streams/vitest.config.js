// The suite's own --run CLI hands vitest a file inside node_modules, which
// vitest excludes by default; this config includes it explicitly. The
// server under test comes from CONFORMANCE_TEST_URL.
import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["node_modules/@durable-streams/server-conformance-tests/dist/test-runner.js"],
    exclude: [],
    testTimeout: 30000,
    hookTimeout: 30000,
  },
})
