/**
 * Generated malformed requests for the gateway, from a seeded PRNG so a
 * failure can be replayed: every request here is invalid in at least one
 * way, so the only right answers are 4xx.
 */
import type { LoadRequest } from "./load.js";

export interface FuzzCase extends LoadRequest {
  kind: string;
}

const VALID_ID = "item-1";
const BAD_IDS: unknown[] = [
  "",
  "a:b",
  "like:1",
  "a b",
  "a/b",
  "../../etc/passwd",
  "..%2F..%2Fetc",
  "x".repeat(129),
  "x".repeat(5000),
  "😀",
  "like😀",
  "ｌｉｋｅ",
  "lіke", // Cyrillic i
  "a\u200bb",
  "a\u0000b",
  "a\nb",
  "\u202eekil",
  "e\u0301",
  "{hash}",
  "a*",
  "a?",
  "%00",
  null,
  0,
  12,
  -1,
  1.5,
  true,
  [],
  ["a"],
  {},
  { $gt: "" },
];
const BAD_DELTAS: unknown[] = [
  "5",
  "1",
  "",
  1.5,
  -0.1,
  1e-9,
  1_000_000_001,
  -1_000_000_001,
  2 ** 53,
  -(2 ** 53),
  2 ** 63,
  1e308,
  Number.MAX_VALUE,
  null,
  true,
  [],
  [1],
  {},
  { n: 1 },
];
const RAW_BAD_DELTAS = ["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "0x10", "01", "+1", "1_000", "9".repeat(400), ".5", "5.", "1e", "--1"];
const BAD_JSON = [
  '{"resource_id": "a",',
  '{"resource_id": "a", "counter_type": "like",}',
  "{'resource_id': 'a', 'counter_type': 'like'}",
  '{resource_id: "a"}',
  '{"resource_id": "a" "counter_type": "like"}',
  "[",
  "]",
  "{",
  "}}",
  "null",
  "true",
  "42",
  '"a string"',
  "[1,2,3]",
  "[]",
  '{"resource_id": "a\\x41"}',
  '{"resource_id": "\\ud800"}',
  "\u0000",
  "\ufeff{}",
  "{\"resource_id\": \"a\", \"counter_type\": \"like\"}garbage",
  '{"__proto__": {"polluted": true}, "resource_id": "a", "counter_type": "like"}',
  '{"constructor": {"prototype": {"polluted": true}}}',
  "[".repeat(5000) + "]".repeat(5000),
  '{"a":'.repeat(3000) + "1" + "}".repeat(3000),
];

const pick = <T>(rand: () => number, list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;

/** One invalid request of one of many kinds. */
export function fuzzCase(rand: () => number, counterType: string): FuzzCase {
  const r = rand();
  const post = (kind: string, path: string, body: string, headers?: Record<string, string>): FuzzCase => ({ kind, method: "POST", path, body, headers });
  const inc = "/api/v1/counter/increment";
  const k = Math.floor(r * 20);
  switch (k) {
    case 0:
      return post("bad json", inc, pick(rand, BAD_JSON));
    case 1:
      return post("bad resource_id", inc, JSON.stringify({ resource_id: pick(rand, BAD_IDS), counter_type: counterType, delta: 1 }));
    case 2:
      return post("bad counter_type", inc, JSON.stringify({ resource_id: VALID_ID, counter_type: pick(rand, BAD_IDS), delta: 1 }));
    case 3:
      return post("bad delta", inc, JSON.stringify({ resource_id: VALID_ID, counter_type: counterType, delta: pick(rand, BAD_DELTAS) }));
    case 4:
      return post("raw bad number", inc, `{"resource_id":"${VALID_ID}","counter_type":"${counterType}","delta":${pick(rand, RAW_BAD_DELTAS)}}`);
    case 5:
      return post("bad increment alias", inc, JSON.stringify({ resource_id: VALID_ID, counter_type: counterType, increment: pick(rand, BAD_DELTAS) }));
    case 6: {
      const body: Record<string, unknown> = { resource_id: VALID_ID, counter_type: counterType, delta: 1 };
      delete body[pick(rand, ["resource_id", "counter_type"])];
      if (rand() < 0.5) body.resourceId = VALID_ID;
      return post("missing field", inc, JSON.stringify(body));
    }
    case 7:
      return post("oversized body", inc, JSON.stringify({ resource_id: VALID_ID, counter_type: counterType, pad: "x".repeat(65_536 + Math.floor(rand() * 200_000)) }));
    case 8: {
      const ops = Array.from({ length: rand() < 0.3 ? 101 + Math.floor(rand() * 50) : 1 + Math.floor(rand() * 20) }, () => ({ resource_id: VALID_ID, counter_type: counterType, delta: 1 }));
      if (ops.length <= 100) ops[Math.floor(rand() * ops.length)] = { resource_id: pick(rand, BAD_IDS), counter_type: counterType, delta: pick(rand, BAD_DELTAS) } as never;
      return post("bad batch-increment", "/api/v1/counter/batch-increment", JSON.stringify(rand() < 0.1 ? { operations: pick(rand, [null, {}, "x", [], 3]) } : { operations: ops }));
    }
    case 9: {
      const queries = rand() < 0.3 ? [] : [{ resource_id: pick(rand, BAD_IDS), counter_type: counterType }];
      return post("bad batch get", "/api/v1/counter/batch", JSON.stringify(rand() < 0.2 ? { query: queries } : { queries }));
    }
    case 10: {
      const type = pick(rand, ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml", "image/png", "application/jsonx", "text/json"]);
      return { kind: "wrong content type", method: "POST", path: inc, body: `resource_id=${VALID_ID}&counter_type=${counterType}`, headers: { "content-type": type } };
    }
    case 11: {
      const path = pick(rand, [
        "/api/v1/counter/..%2F..%2Fetc%2Fpasswd/like",
        "/api/v1/counter/a%3Ab/like",
        "/api/v1/counter/%00/like",
        "/api/v1/counter/a/%F0%9F%98%80",
        `/api/v1/counter/${"x".repeat(300)}/like`,
        "/api/v1/counter/%E0%A4%A/like",
        "/api/v1/counter/%/like",
        "/api/v1/counter/a%20b/like",
        "/api/v1/counter/a/b/c",
        "/api/v1/counter/a",
        "/api/v1/counter//like",
        "/api/v1/counter/%EF%BD%8C%EF%BD%89%EF%BD%8B%EF%BD%85/like",
      ]);
      return { kind: "path trick", method: "GET", path };
    }
    case 12: {
      const q = pick(rand, [
        "",
        "counter_type=a:b",
        `counter_type=${counterType}&limit=0`,
        `counter_type=${counterType}&limit=101`,
        `counter_type=${counterType}&limit=-1`,
        `counter_type=${counterType}&limit=1e2`,
        `counter_type=${counterType}&limit=99999999999999999999`,
        `counter_type=${counterType}&page=0`,
        `counter_type=${counterType}&page=100000`,
        `counter_type=${counterType}&time_range=1y`,
        `counter_type=${counterType}&time_range=`,
        `counter_type=${counterType}&counter_type=other`,
        `counter_type[]=${counterType}`,
        `__proto__[limit]=5`,
        `counter_type=%F0%9F%98%80`,
        `counter_type=${"x".repeat(200)}`,
      ]);
      return { kind: "bad top query", method: "GET", path: `/api/v1/analytics/top?${q}` };
    }
    case 13: {
      const badId = pick(rand, BAD_IDS.filter((id): id is string => typeof id === "string" && id !== ""));
      const path = `/api/v1/analytics/stats/${encodeURIComponent(badId)}/${counterType}`;
      return { kind: "bad stats", method: "GET", path: rand() < 0.5 ? path : `/api/v1/analytics/stats/${VALID_ID}/${counterType}?time_range=${pick(rand, ["1y", "0h", "", "24H", "7d;drop"])}` };
    }
    case 14:
      return { kind: "wrong method", method: pick(rand, ["GET", "POST"]) as "GET", path: rand() < 0.5 ? "/api/v1/counter/increment" : "/api/v1/counter/batch-increment" };
    case 15:
      return post("bad idempotency key", inc, JSON.stringify({ resource_id: VALID_ID, counter_type: counterType, delta: 1 }), { "idempotency-key": "k".repeat(257 + Math.floor(rand() * 2000)) });
    case 16:
      return post("no or bad API key", inc, JSON.stringify({ resource_id: VALID_ID, counter_type: counterType, delta: 1 }), {
        authorization: pick(rand, ["", "Bearer", "Bearer wrong-key-xxxxxxxx", "Basic dXNlcjpwYXNz", "bearer " + "k".repeat(4000)]),
        "x-api-key": "",
      });
    case 17:
      return post("unknown route", pick(rand, ["/api/v1/counter/incr", "/api/v2/counter/increment", "/api/v1/counter/increment/", "/API/V1/COUNTER/INCREMENT", "/api/v1/../v1/counter/increment"]), "{}");
    case 18: {
      const deep = JSON.stringify({ resource_id: VALID_ID, counter_type: counterType, delta: 1, user_id: "u".repeat(129 + Math.floor(rand() * 100)) });
      return post("user_id too long", inc, deep);
    }
    default: {
      const body = JSON.stringify({ resource_id: VALID_ID, counter_type: counterType, delta: 1 });
      const cut = Math.max(1, Math.floor(rand() * (body.length - 1)));
      return post("truncated body", inc, body.slice(0, cut));
    }
  }
}

/** Raw bytes no HTTP client library would send, for a socket straight to the server. */
export function rawCase(rand: () => number): string {
  return pick(rand, [
    "GARBAGE\r\n\r\n",
    "GET / HTTP/9.9\r\n\r\n",
    "GET /api/v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "POST /api/v1/counter/increment HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "POST /api/v1/counter/increment HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n",
    "POST /api/v1/counter/increment HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n{}",
    `GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`,
    "GET /api/v1/health HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
    "GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX: a\u0000b\r\n\r\n",
    "GET /api/v1/counter/a/like HTTP/1.1\r\nHost: x\r\nX-Injected: a\rb\r\n\r\n",
    "GET /\u0001 HTTP/1.1\r\nHost: x\r\n\r\n",
    "POST /api/v1/counter/increment HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"resource_id\":",
    "\r\n\r\n\r\n",
    "GET http://evil.example/ HTTP/1.1\r\nHost: evil.example\r\n\r\n",
    "CONNECT 127.0.0.1:6379 HTTP/1.1\r\nHost: x\r\n\r\n",
    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
  ]);
}
