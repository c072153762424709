import type { TestProject } from "vitest/node";
import { startTestOrigin } from "../../harness/test-origin";

/**
 * Starts the real loopback origin that the Worker under test (inside workerd) forwards to, and
 * hands its URL to the Worker's bindings (`vitest.config.ts`) and to the tests.
 */
export default async function setup(project: TestProject) {
  const origin = await startTestOrigin();
  project.provide("originUrl", origin.url);
  return () => origin.close();
}

declare module "vitest" {
  export interface ProvidedContext {
    originUrl: string;
  }
}
