import { hash, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

/**
 * API keys for the write endpoints (API_KEYS, from a Kubernetes Secret).
 * Keys are compared as SHA-256 digests with timingSafeEqual against every
 * configured key, so the time taken says nothing about how much of a key
 * matched, its length, or which key it was.
 *
 * Kept rather than @fastify/bearer-auth, which reads only `Authorization:
 * Bearer` (not X-API-Key), says only yes or no (the rate limit needs to know
 * which key, so this verifier would run as well), compares raw bytes (the
 * time then depends on the presented key's length) and stops at the first
 * match, and answers through a promise per request. Doing the gateway's job
 * with it and @fastify/rate-limit cost +1.6 to +6.9 µs per request against
 * admission.ts in eight paired measurements (+3 to +14 %; bench/README.md,
 * "Library or hand-written", `node dist/bench/micro/admission.js`).
 *
 * The digest is the one-shot crypto.hash: createHash() set up an OpenSSL
 * context per request, 2.9-3.8 µs a check against 1.4-2.1 µs (same command,
 * its last table).
 */
export interface ApiKeyVerifier {
  /** The matching key's label (`key1`, `key2`, ...) or undefined. */
  verify(presented: string): string | undefined;
}

const digest = (value: string) => hash("sha256", value, "buffer");

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
