// prom-client is pinned to an exact version in package.json (see
// docs/DEPENDENCIES.md) because this file, and labeled-histogram.ts which it
// renders, rely on prom-client internals that no semver range protects:
//  - Registry#_defaultLabels, a private field, read to copy the default labels;
//  - Registry#getMetricsAsString(metric), undocumented and not in the typings:
//    renders one metric, calling its getForPromString() when it has one, else
//    get(); in OpenMetrics mode it appends `_total` to counter samples and
//    prints exemplars ({ labelSet, value, timestamp }) after the values;
//  - the object shape a registered metric must have (name, help, type,
//    aggregator, get() returning { name, help, type, values: [{ labels,
//    value, metricName?, exemplar? }] }, reset()), which LabeledHistogram
//    implements without extending prom-client's classes.
// Before changing the version, read the new lib/registry.js for these and run
// test/observability/exposition.test.ts (it needs no servers).
import { Registry, type OpenMetricsContentType } from "prom-client";

/**
 * Renders a registry in the format the scraper asked for: Prometheus text
 * 0.0.4 by default, OpenMetrics 1.0 (with histogram exemplars) when the
 * Accept header names application/openmetrics-text, as Prometheus does when
 * exemplar storage is on.
 *
 * The registry itself always stays in text mode: switching a shared
 * registry's content type per scrape races between concurrent scrapes, and
 * prom-client's OpenMetrics rendering strips `_total` from counter names in
 * place, which would corrupt every later text scrape. OpenMetrics is
 * rendered through a throwaway registry instead, and counters are handed to
 * it under their family name without touching the metric objects.
 */
export const PROMETHEUS_TEXT = Registry.PROMETHEUS_CONTENT_TYPE;
export const OPENMETRICS_TEXT = Registry.OPENMETRICS_CONTENT_TYPE;

export function wantsOpenMetrics(accept: string | undefined): boolean {
  return accept !== undefined && accept.includes("application/openmetrics-text");
}

interface RenderableMetric {
  type?: string;
  get(): Promise<{ name: string }> | { name: string };
  getForPromString?: () => Promise<{ name: string }>;
}

interface RegistryInternals {
  _defaultLabels?: Record<string, string>;
  getMetricsAsString(metric: unknown): Promise<string>;
}

async function renderOpenMetrics(registry: Registry): Promise<string> {
  const om = new Registry<OpenMetricsContentType>();
  om.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  const defaults = (registry as unknown as RegistryInternals)._defaultLabels;
  if (defaults) om.setDefaultLabels(defaults);
  const render = (om as unknown as RegistryInternals).getMetricsAsString.bind(om);
  const parts = await Promise.all(
    (registry.getMetricsAsArray() as unknown as RenderableMetric[]).map((metric) => {
      if (metric.type !== "counter") return render(metric);
      // OpenMetrics names the counter family without _total; samples get it back.
      const read = metric.getForPromString ? () => metric.getForPromString!() : async () => metric.get();
      return render({
        getForPromString: async () => {
          const data = await read();
          return { ...data, name: data.name.replace(/_total$/, "") };
        },
      });
    }),
  );
  return `${parts.join("\n")}\n# EOF\n`;
}

/** The body and content type of one scrape. */
export async function renderMetrics(registry: Registry, accept: string | undefined): Promise<{ contentType: string; body: string }> {
  if (wantsOpenMetrics(accept)) return { contentType: OPENMETRICS_TEXT, body: await renderOpenMetrics(registry) };
  return { contentType: PROMETHEUS_TEXT, body: await registry.metrics() };
}
