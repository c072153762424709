import { describe, expect, it } from "vitest";
import { bodyFormat, type BodyFormat } from "../../../src/core/media-type";

describe("bodyFormat", () => {
  it.each<[string | null, BodyFormat]>([
    ["application/json", "json"],
    ["application/json; charset=utf-8", "json"],
    ["Application/JSON", "json"],
    [" application/json ;charset=UTF-8", "json"],
    ["application/merge-patch+json", "json"],
    ["application/vnd.api+json", "json"],
    ["application/x-www-form-urlencoded", "form"],
    ["application/x-www-form-urlencoded; charset=utf-8", "form"],
    ["text/plain", "other"],
    ["multipart/form-data; boundary=x", "multipart"],
    ["multipart/mixed; boundary=x", "other"],
    ["application/jsonx", "other"],
    ["application/json-seq", "other"],
    ["application/+json", "other"],
    // Two Content-Type fields, joined by the Fetch API: no single type.
    ["application/json, text/plain", "other"],
    [null, "other"],
  ])("reads %j as %s", (contentType, expected) => {
    expect(bodyFormat(contentType)).toBe(expected);
  });
});
