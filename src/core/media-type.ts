/**
 * Which of the body formats the gateway reads a request body is, by its `Content-Type`. Pure.
 */

/**
 * `json`: `application/json` or any `+json` type; `form`: urlencoded; `multipart`:
 * `multipart/form-data` (RFC 7578); `other`: the rest.
 */
export type BodyFormat = "json" | "form" | "multipart" | "other";

/**
 * The format of a body by its `Content-Type` (`Headers.get`, so repeated fields arrive joined by
 * `", "` and match nothing). Type and subtype are case-insensitive and parameters are ignored
 * (RFC 9110 §8.3.1); `+json` is the structured syntax suffix of RFC 6839 §3.1
 * (`application/merge-patch+json`).
 *
 * @example
 * bodyFormat("Application/JSON; charset=utf-8"); // "json"
 * bodyFormat("application/x-www-form-urlencoded"); // "form"
 * bodyFormat("multipart/form-data; boundary=x"); // "multipart"
 * bodyFormat("text/plain"); // "other"
 */
export function bodyFormat(contentType: string | null): BodyFormat {
  if (contentType === null) return "other";
  const essence = (contentType.split(";")[0] ?? "").trim().toLowerCase();
  if (essence === "application/x-www-form-urlencoded") return "form";
  if (essence === "multipart/form-data") return "multipart";
  if (
    essence === "application/json" ||
    /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+\+json$/.test(essence)
  ) {
    return "json";
  }
  return "other";
}
