import type { ConfigError } from "../config/settings";
import { problemResponse } from "../core/problems";

/**
 * Logs a configuration problem and answers it (`500 invalid-configuration`, naming the
 * variable); nothing is forwarded. The log line is what alerts the operator.
 */
export function invalidConfiguration(error: ConfigError): Response {
  console.error(JSON.stringify({ event: "invalid-configuration", ...error }));
  return problemResponse({ code: "invalid-configuration", ...error });
}
