import type { Observation } from "./decide.js";

/**
 * Reads one QPS number from the Prometheus HTTP API (instant query). Every
 * failure — unreachable, timeout, HTTP error, PromQL error, empty result,
 * NaN — comes back as `{ ok: false, error }` with a sentence an operator can
 * act on; it never throws.
 */
export type MetricReader = (prometheusURL: string, query: string) => Promise<Observation>;

/** Replaces ${namespace}, ${target} and ${name} in a query template. Pure. */
export function renderQuery(template: string, vars: { namespace: string; target: string; name: string }): string {
  return template.replace(/\$\{(namespace|target|name)\}/g, (_, key: keyof typeof vars) => vars[key]);
}

interface PromResponse {
  status?: string;
  error?: string;
  errorType?: string;
  data?: {
    resultType?: string;
    result?: unknown;
  };
}

/** Turns a Prometheus instant-query response into a QPS reading. Pure. */
export function parseInstantQuery(body: PromResponse): Observation {
  if (body.status !== "success") {
    return { ok: false, error: `Prometheus query failed: ${body.errorType ?? "error"}: ${body.error ?? "unknown"}` };
  }
  const data = body.data ?? {};
  let values: unknown[] = [];
  if (data.resultType === "scalar") {
    values = [(data.result as unknown[] | undefined)?.[1]];
  } else if (data.resultType === "vector" && Array.isArray(data.result)) {
    values = data.result.map((s: { value?: unknown[] }) => s.value?.[1]);
  } else {
    return { ok: false, error: `query must return an instant vector or scalar, got ${data.resultType ?? "nothing"}` };
  }
  if (values.length === 0) return { ok: false, error: "query returned no data (empty vector)" };
  let sum = 0;
  for (const v of values) {
    const n = typeof v === "string" ? Number(v) : NaN;
    if (!Number.isFinite(n)) return { ok: false, error: `query returned a non-finite value (${String(v)})` };
    sum += n;
  }
  if (sum < 0) return { ok: false, error: `query returned a negative rate (${sum})` };
  return { ok: true, qps: sum };
}

export function prometheusReader(options: { timeoutMs: number }): MetricReader {
  return async (prometheusURL, query) => {
    const url = `${prometheusURL.replace(/\/+$/, "")}/api/v1/query?query=${encodeURIComponent(query)}`;
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(options.timeoutMs), headers: { accept: "application/json" } });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      const why = e.name === "TimeoutError" ? `no answer within ${options.timeoutMs} ms` : (e.cause?.code ?? e.message);
      return { ok: false, error: `Prometheus at ${prometheusURL} unreachable: ${why}` };
    }
    let body: PromResponse;
    try {
      body = (await res.json()) as PromResponse;
    } catch {
      return { ok: false, error: `Prometheus at ${prometheusURL} answered HTTP ${res.status} without JSON` };
    }
    if (!res.ok && body.status !== "error") {
      return { ok: false, error: `Prometheus at ${prometheusURL} answered HTTP ${res.status}` };
    }
    return parseInstantQuery(body);
  };
}
