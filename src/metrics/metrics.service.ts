import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ProviderRegistry } from '../providers/provider-registry.service';
import type { UsageRecord } from '../usage/usage-record';
import { UsageWriter } from '../usage/usage-writer.service';
import { DestinationStatus, S3ExportService } from '../logs/s3-export.service';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/**
 * Prometheus metrics for operators. Request metrics are observed once per usage record (the same
 * moment the row is queued), so counters agree with request_log; gauges are read at scrape time.
 * Labels stay bounded: provider, model, endpoint and status code, never tokens or users.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  private readonly requests: Counter<'provider' | 'model' | 'endpoint' | 'status'>;
  private readonly errors: Counter<'provider' | 'model' | 'endpoint' | 'error_type'>;
  private readonly duration: Histogram<'provider' | 'model' | 'endpoint'>;
  private readonly ttft: Histogram<'provider' | 'model' | 'endpoint'>;
  private readonly tokens: Counter<'provider' | 'model' | 'type'>;
  private readonly cost: Counter<'provider' | 'model'>;
  private readonly cancelled: Counter<'provider' | 'model'>;
  private readonly budgetRejections: Counter<'kind'>;

  constructor(writer: UsageWriter, providers: ProviderRegistry, exports: S3ExportService) {
    const registers = [this.registry];
    this.requests = new Counter({ name: 'sluice_requests_total', help: 'Proxied requests by provider, model, endpoint and HTTP status', labelNames: ['provider', 'model', 'endpoint', 'status'], registers });
    this.errors = new Counter({ name: 'sluice_request_errors_total', help: 'Proxied requests that failed (status >= 400), by error type', labelNames: ['provider', 'model', 'endpoint', 'error_type'], registers });
    this.duration = new Histogram({ name: 'sluice_request_duration_seconds', help: 'Total request latency through Sluice', labelNames: ['provider', 'model', 'endpoint'], buckets: LATENCY_BUCKETS, registers });
    this.ttft = new Histogram({ name: 'sluice_time_to_first_token_seconds', help: 'Time to the first generated output', labelNames: ['provider', 'model', 'endpoint'], buckets: LATENCY_BUCKETS, registers });
    this.tokens = new Counter({ name: 'sluice_tokens_total', help: 'Tokens by type (input includes cached and cache-write)', labelNames: ['provider', 'model', 'type'], registers });
    this.cost = new Counter({ name: 'sluice_cost_usd_total', help: 'Cost from configured pricing, in US dollars', labelNames: ['provider', 'model'], registers });
    this.cancelled = new Counter({ name: 'sluice_requests_cancelled_total', help: 'Requests the client abandoned before the end', labelNames: ['provider', 'model'], registers });
    this.budgetRejections = new Counter({ name: 'sluice_budget_rejections_total', help: 'Requests refused by a budget or a rate limit', labelNames: ['kind'], registers });
    // S3 export, per configured destination and kind, read from export_cursor once per scrape.
    let exportRead: { at: number; rows: Promise<DestinationStatus[]> } | null = null;
    const exportStatus = () => {
      if (!exportRead || Date.now() - exportRead.at > 1000) exportRead = { at: Date.now(), rows: exports.status().then((x) => x.filter((d) => d.configured)).catch(() => []) };
      return exportRead.rows;
    };
    const exportGauge = (name: string, help: string, pick: (d: DestinationStatus) => number | null) =>
      new Gauge({
        name,
        help,
        labelNames: ['destination', 'kind'],
        registers,
        async collect() {
          this.reset();
          for (const d of await exportStatus()) {
            const v = pick(d);
            if (v !== null) this.set({ destination: d.destination, kind: d.kind }, v);
          }
        },
      });
    exportGauge('sluice_export_rows_exported', 'Rows exported to S3 so far, per destination and kind', (d) => d.rowsExported);
    exportGauge('sluice_export_objects_exported', 'Objects written to S3 so far, per destination and kind', (d) => d.objectsExported);
    exportGauge('sluice_export_last_success_timestamp_seconds', 'When the last export run of a destination succeeded (unix time)', (d) => (d.lastSuccessAt ? Date.parse(d.lastSuccessAt) / 1000 : null));
    exportGauge('sluice_export_failing', '1 when the last export run of a destination failed', (d) => (d.lastError ? 1 : 0));
    new Gauge({
      name: 'sluice_usage_queue_depth',
      help: 'Usage records queued or in flight, not yet written',
      registers,
      collect() {
        this.set(writer.depth);
      },
    });
    // Monotonic since start, so counters (rate() works); read from the writer at scrape time.
    const total = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    total('sluice_usage_records_written_total', 'Usage records written to PostgreSQL since start', () => writer.stats.written);
    total('sluice_usage_failed_flushes_total', 'Usage batches that failed and were retried (the records stay queued), since start', () => writer.stats.failedFlushes);
    total('sluice_usage_pushbacks_total', 'Requests answered 503 because the usage queue was full: Sluice pushes back instead of dropping records, since start', () => writer.stats.rejected);
    new Gauge({
      name: 'sluice_upstream_pool',
      help: 'Upstream connection pool state per provider',
      labelNames: ['provider', 'state'],
      registers,
      collect() {
        this.reset();
        for (const [provider, s] of providers.poolStats()) {
          for (const state of ['connected', 'free', 'pending', 'queued', 'running', 'size'] as const) this.set({ provider, state }, s[state]);
        }
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'sluice_process_' });
  }

  observe(r: UsageRecord): void {
    const provider = r.provider ?? 'none';
    const model = r.provider ? (r.model ?? 'none') : 'unresolved';
    this.requests.inc({ provider, model, endpoint: r.endpoint, status: String(r.status) });
    if (r.status >= 400) this.errors.inc({ provider, model, endpoint: r.endpoint, error_type: r.errorType ?? `http_${r.status}` });
    if (r.errorType === 'budget_exhausted' || r.errorType === 'rate_limited') this.budgetRejections.inc({ kind: r.errorType === 'rate_limited' ? 'rate_limit' : 'budget' });
    if (r.cancelled) this.cancelled.inc({ provider, model });
    this.duration.observe({ provider, model, endpoint: r.endpoint }, r.latencyMs / 1000);
    if (r.ttftMs !== null) this.ttft.observe({ provider, model, endpoint: r.endpoint }, r.ttftMs / 1000);
    if (r.inputTokens) this.tokens.inc({ provider, model, type: 'input' }, r.inputTokens);
    if (r.outputTokens) this.tokens.inc({ provider, model, type: 'output' }, r.outputTokens);
    if (r.cachedInputTokens) this.tokens.inc({ provider, model, type: 'cached_input' }, r.cachedInputTokens);
    if (r.cacheWriteTokens) this.tokens.inc({ provider, model, type: 'cache_write' }, r.cacheWriteTokens);
    if (r.costMicros) this.cost.inc({ provider, model }, r.costMicros / 1e6);
  }
}
