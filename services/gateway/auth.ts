import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

/**
 * API keys for the write endpoints (API_KEYS, from a Kubernetes Secret).
 * Keys are compared as SHA-256 digests with timingSafeEqual against every
 * configured key, so the time taken says nothing about how much of a key
 * matched, its length, or which key it was.
 */
export interface ApiKeyVerifier {
  /** The matching key's label (`key1`, `key2`, ...) or undefined. */
  verify(presented: string): string | undefined;
}

const digest = (value: string) => createHash("sha256").update(value, "utf8").digest();

export function createApiKeyVerifier(keys: readonly string[]): ApiKeyVerifier {
  const digests = keys.map(digest);
  const labels = keys.map((_, i) => `key${i + 1}`);
  return {
    verify(presented) {
      const d = digest(presented);
      let match = -1;
      for (let i = 0; i < digests.length; i++) {
        if (timingSafeEqual(d, digests[i]!) && match < 0) match = i;
      }
      return match < 0 ? undefined : labels[match];
    },
  };
}

/** The key a request presents: `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
export function presentedApiKey(headers: IncomingHttpHeaders): string | undefined {
  const header = headers["x-api-key"];
  if (typeof header === "string" && header !== "") return header;
  const authorization = headers.authorization;
  if (authorization !== undefined && authorization.length > 7 && /^bearer /i.test(authorization)) {
    return authorization.slice(7).trim() || undefined;
  }
  return undefined;
}
