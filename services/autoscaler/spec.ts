import type {
  AutoscalerSpec,
  FallbackMode,
  ScalingPolicy,
  ScalingRules,
  SelectPolicy,
} from "./types.js";

/**
 * Defaults and validation of a CounterAutoscaler spec. The CRD schema applies
 * the same defaults and rejects the same mistakes at admission; this copy
 * keeps the controller safe against objects stored before a schema change
 * and lets the decision function assume a complete, valid spec.
 */

/** HPA v2 default scale-up rules: no stabilization, max(4 pods, 100 %) per 15 s. */
export const DEFAULT_SCALE_UP: ScalingRules = {
  stabilizationWindowSeconds: 0,
  selectPolicy: "Max",
  policies: [
    { type: "Pods", value: 4, periodSeconds: 15 },
    { type: "Percent", value: 100, periodSeconds: 15 },
  ],
};

/**
 * HPA v2 default scale-down rules: 300 s stabilization, 100 % per 15 s. The
 * 300 s also applies when the window is left unset, but only while the metric
 * is unavailable: confident scaling replaces it otherwise.
 */
export const DEFAULT_SCALE_DOWN: ScalingRules = {
  stabilizationWindowSeconds: 300,
  selectPolicy: "Max",
  policies: [{ type: "Percent", value: 100, periodSeconds: 15 }],
};

export const DEFAULTS = {
  minReplicas: 1,
  tolerance: 0.1,
  stableWindowSeconds: 60,
  panic: { enabled: true, windowSeconds: 6, threshold: 2.0 },
  // Chosen on the simulation's traces over 100 seeds (bench/autoscaler/README.md):
  // the HPA's 300 s window spent measuring instead of waiting, and the
  // narrowest margin that flaps on the noisy trace no more often than the HPA.
  confidence: { historySeconds: 300, margin: 4.5 },
  fallback: { mode: "hold" as FallbackMode, failureThreshold: 3 },
} as const;

export type SpecResult = { ok: true; spec: AutoscalerSpec } | { ok: false; errors: string[] };

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

class Reader {
  readonly errors: string[] = [];

  obj(parent: Obj, key: string, path: string): Obj {
    const v = parent[key];
    if (v === undefined || v === null) return {};
    if (!isObj(v)) {
      this.errors.push(`${path}.${key} must be an object`);
      return {};
    }
    return v;
  }

  int(parent: Obj, key: string, path: string, fallback: number | undefined, min: number, max = 2 ** 31 - 1): number {
    const v = parent[key] ?? fallback;
    if (v === undefined) {
      this.errors.push(`${path}.${key} is required`);
      return NaN;
    }
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
      this.errors.push(`${path}.${key} must be an integer between ${min} and ${max}, got ${JSON.stringify(v)}`);
      return NaN;
    }
    return v;
  }

  num(parent: Obj, key: string, path: string, fallback: number | undefined, check: (n: number) => boolean, rule: string): number {
    const v = parent[key] ?? fallback;
    if (v === undefined) {
      this.errors.push(`${path}.${key} is required`);
      return NaN;
    }
    if (typeof v !== "number" || !Number.isFinite(v) || !check(v)) {
      this.errors.push(`${path}.${key} must be ${rule}, got ${JSON.stringify(v)}`);
      return NaN;
    }
    return v;
  }

  str(parent: Obj, key: string, path: string, fallback?: string): string | undefined {
    const v = parent[key] ?? fallback;
    if (v === undefined) return undefined;
    if (typeof v !== "string") {
      this.errors.push(`${path}.${key} must be a string`);
      return undefined;
    }
    return v;
  }

  bool(parent: Obj, key: string, path: string, fallback: boolean): boolean {
    const v = parent[key] ?? fallback;
    if (typeof v !== "boolean") {
      this.errors.push(`${path}.${key} must be true or false`);
      return fallback;
    }
    return v;
  }

  oneOf<T extends string>(parent: Obj, key: string, path: string, fallback: T, allowed: readonly T[]): T {
    const v = parent[key] ?? fallback;
    if (typeof v !== "string" || !(allowed as readonly string[]).includes(v)) {
      this.errors.push(`${path}.${key} must be one of ${allowed.join(", ")}, got ${JSON.stringify(v)}`);
      return fallback;
    }
    return v as T;
  }

  rules(parent: Obj, key: string, path: string, defaults: ScalingRules): ScalingRules {
    const raw = this.obj(parent, key, path);
    const p = `${path}.${key}`;
    const rules: ScalingRules = {
      stabilizationWindowSeconds: this.int(raw, "stabilizationWindowSeconds", p, defaults.stabilizationWindowSeconds, 0, 3600),
      selectPolicy: this.oneOf<SelectPolicy>(raw, "selectPolicy", p, defaults.selectPolicy, ["Max", "Min", "Disabled"]),
      policies: defaults.policies.map((x) => ({ ...x })),
    };
    const policies = raw.policies;
    if (policies !== undefined && policies !== null) {
      if (!Array.isArray(policies) || policies.length === 0 || policies.length > 10) {
        this.errors.push(`${p}.policies must be a list of 1 to 10 policies`);
      } else {
        rules.policies = policies.map((item, i): ScalingPolicy => {
          const pp = `${p}.policies[${i}]`;
          const o = isObj(item) ? item : {};
          if (!isObj(item)) this.errors.push(`${pp} must be an object`);
          return {
            type: this.oneOf(o, "type", pp, "Pods", ["Pods", "Percent"]),
            value: this.int(o, "value", pp, undefined, 1),
            periodSeconds: this.int(o, "periodSeconds", pp, undefined, 1, 1800),
          };
        });
      }
    }
    return rules;
  }
}

/** Applies defaults to a raw `spec` and returns it, or every problem found. */
export function normalizeSpec(raw: unknown): SpecResult {
  const r = new Reader();
  if (!isObj(raw)) return { ok: false, errors: ["spec must be an object"] };
  const p = "spec";

  const ref = r.obj(raw, "scaleTargetRef", p);
  const refName = r.str(ref, "name", `${p}.scaleTargetRef`);
  if (!refName) r.errors.push(`${p}.scaleTargetRef.name is required`);
  const refKind = r.oneOf(ref, "kind", `${p}.scaleTargetRef`, "Deployment", ["Deployment"]);
  const refApi = r.str(ref, "apiVersion", `${p}.scaleTargetRef`, "apps/v1") ?? "apps/v1";
  if (refApi !== "apps/v1") r.errors.push(`${p}.scaleTargetRef.apiVersion must be apps/v1, got '${refApi}'`);

  const minReplicas = r.int(raw, "minReplicas", p, DEFAULTS.minReplicas, 1);
  const maxReplicas = r.int(raw, "maxReplicas", p, undefined, 1);
  if (minReplicas > maxReplicas) {
    r.errors.push(`${p}.minReplicas (${minReplicas}) must not exceed maxReplicas (${maxReplicas})`);
  }
  const targetQPSPerReplica = r.num(raw, "targetQPSPerReplica", p, undefined, (n) => n > 0, "a number greater than 0");
  const tolerance = r.num(raw, "tolerance", p, DEFAULTS.tolerance, (n) => n >= 0 && n < 1, "a number in [0, 1)");
  const stableWindowSeconds = r.int(raw, "stableWindowSeconds", p, DEFAULTS.stableWindowSeconds, 1, 3600);

  const metricRaw = r.obj(raw, "metric", p);
  const prometheusURL = r.str(metricRaw, "prometheusURL", `${p}.metric`);
  const query = r.str(metricRaw, "query", `${p}.metric`);
  if (prometheusURL && !/^https?:\/\/[^\s]+$/.test(prometheusURL)) {
    r.errors.push(`${p}.metric.prometheusURL must be an http(s) URL, got '${prometheusURL}'`);
  }

  const behaviorRaw = r.obj(raw, "behavior", p);
  const scaleUp = r.rules(behaviorRaw, "scaleUp", `${p}.behavior`, DEFAULT_SCALE_UP);
  const scaleDown = r.rules(behaviorRaw, "scaleDown", `${p}.behavior`, DEFAULT_SCALE_DOWN);

  const confidenceRaw = r.obj(raw, "confidence", p);
  const scaleDownRaw = behaviorRaw.scaleDown;
  const confidence = {
    enabled: !(isObj(scaleDownRaw) && scaleDownRaw.stabilizationWindowSeconds != null),
    historySeconds: r.int(confidenceRaw, "historySeconds", `${p}.confidence`, DEFAULTS.confidence.historySeconds, 1, 3600),
    margin: r.num(confidenceRaw, "margin", `${p}.confidence`, DEFAULTS.confidence.margin, (n) => n >= 0 && n <= 10, "a number in [0, 10]"),
  };
  if (confidence.historySeconds < 2 * stableWindowSeconds) {
    r.errors.push(
      `${p}.confidence.historySeconds (${confidence.historySeconds}) must be at least twice stableWindowSeconds (${stableWindowSeconds}): the noise is measured on changes over one stable window`,
    );
  }

  const panicRaw = r.obj(raw, "panic", p);
  const panic = {
    enabled: r.bool(panicRaw, "enabled", `${p}.panic`, DEFAULTS.panic.enabled),
    windowSeconds: r.int(panicRaw, "windowSeconds", `${p}.panic`, DEFAULTS.panic.windowSeconds, 1, 3600),
    threshold: r.num(panicRaw, "threshold", `${p}.panic`, DEFAULTS.panic.threshold, (n) => n > 1 && n <= 10, "a number in (1, 10]"),
  };
  if (panic.windowSeconds > stableWindowSeconds) {
    r.errors.push(`${p}.panic.windowSeconds (${panic.windowSeconds}) must not exceed stableWindowSeconds (${stableWindowSeconds})`);
  }

  const fallbackRaw = r.obj(raw, "fallback", p);
  const fallbackMode = r.oneOf<FallbackMode>(fallbackRaw, "mode", `${p}.fallback`, DEFAULTS.fallback.mode, ["hold", "fixed"]);
  const fallbackReplicas =
    fallbackRaw.replicas === undefined ? undefined : r.int(fallbackRaw, "replicas", `${p}.fallback`, undefined, 1);
  if (fallbackMode === "fixed" && fallbackReplicas === undefined) {
    r.errors.push(`${p}.fallback.replicas is required when fallback.mode is fixed`);
  }
  const failureThreshold = r.int(fallbackRaw, "failureThreshold", `${p}.fallback`, DEFAULTS.fallback.failureThreshold, 1, 1000);

  const paused = r.bool(raw, "paused", p, false);

  if (r.errors.length > 0) return { ok: false, errors: r.errors };
  return {
    ok: true,
    spec: {
      scaleTargetRef: { apiVersion: refApi, kind: refKind, name: refName as string },
      minReplicas,
      maxReplicas,
      targetQPSPerReplica,
      tolerance,
      stableWindowSeconds,
      metric: { prometheusURL: prometheusURL || undefined, query: query || undefined },
      behavior: { scaleUp, scaleDown },
      confidence,
      panic,
      fallback: { mode: fallbackMode, replicas: fallbackReplicas, failureThreshold },
      paused,
    },
  };
}

/** A complete spec from a partial one, for tests and the simulation; throws on invalid input. */
export function specFrom(raw: Record<string, unknown>): AutoscalerSpec {
  const result = normalizeSpec(raw);
  if (!result.ok) throw new Error(`invalid CounterAutoscaler spec: ${result.errors.join("; ")}`);
  return result.spec;
}
