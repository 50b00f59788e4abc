import { readFileSync } from 'node:fs';
import { parser } from '@prometheus-io/lezer-promql';
import { describe, expect, it } from 'vitest';
import { AnnounceMetrics } from '../../src/announce/metrics.ts';
import { LbMetrics } from '../../src/metrics/index.ts';
import { KubernetesMetrics } from '../../src/sources/kubernetes/metrics.ts';

// deploy/grafana-dashboard.json against the program: every query is parsed with Prometheus's own PromQL
// grammar (@prometheus-io/lezer-promql, the one the Prometheus UI uses), and every metric it names, with
// every label it matches or groups by, must be one the program registers (read from the prom-client
// registry with all three metric sets on it: the load balancer's, Kubernetes mode's, BGP scale-out's).

interface Panel {
  type: string;
  title: string;
  targets?: { expr: string }[];
  panels?: Panel[];
}

const dashboard = JSON.parse(readFileSync('deploy/grafana-dashboard.json', 'utf8')) as {
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: string | { query: string } }[] };
};

type SyntaxNode = ReturnType<typeof parser.parse>['topNode'];

/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = ['job', 'instance'];
const GRAFANA_VARIABLES: Record<string, string> = { $__rate_interval: '5m', $__interval: '1m', $__range: '1h' };

async function exported(): Promise<Map<string, { type: string; labels: Set<string> }>> {
  const m = new LbMetrics();
  new KubernetesMetrics(m.registry);
  new AnnounceMetrics(m.registry, 'bird');
  const out = new Map<string, { type: string; labels: Set<string> }>();
  for (const j of await m.registry.getMetricsAsJSON()) {
    const type = String(j.type);
    const metric = m.registry.getSingleMetric(j.name) as unknown as { labelNames?: readonly string[] };
    const labels = new Set([...(metric.labelNames ?? []), ...TARGET_LABELS]);
    out.set(j.name, { type, labels });
    if (type === 'histogram' || type === 'summary') {
      for (const suffix of ['_sum', '_count']) out.set(j.name + suffix, { type: 'counter', labels });
      if (type === 'histogram') out.set(`${j.name}_bucket`, { type: 'counter', labels: new Set([...labels, 'le']) });
      else labels.add('quantile');
    }
  }
  return out;
}

function queries(): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  const walk = (panels: Panel[]) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}"`, expr: t.expr });
      if (p.panels) walk(p.panels);
    }
  };
  walk(dashboard.panels);
  return out;
}

interface Parsed {
  errors: string[];
  selectors: { metric: string; labels: string[] }[];
  grouping: string[];
}

function parse(expr: string): Parsed {
  let text = expr;
  for (const [v, value] of Object.entries(GRAFANA_VARIABLES)) text = text.split(v).join(value);
  const tree = parser.parse(text);
  const out: Parsed = { errors: [], selectors: [], grouping: [] };
  const src = (n: SyntaxNode) => text.slice(n.from, n.to);
  tree.iterate({
    enter: (ref) => {
      const n = ref.node;
      if (n.type.isError) out.errors.push(`syntax error at ${n.from}: ${JSON.stringify(text.slice(Math.max(0, n.from - 20), n.from + 20))}`);
      if (n.name === 'VectorSelector') {
        const id = n.getChild('Identifier');
        const labels = n.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher').map((m) => src(m.getChild('LabelName') as SyntaxNode)) ?? [];
        out.selectors.push({ metric: id ? src(id) : '', labels });
      }
      if (n.name === 'GroupingLabels') for (const l of n.getChildren('LabelName')) out.grouping.push(src(l));
    },
  });
  return out;
}

describe('deploy/grafana-dashboard.json', () => {
  it('has queries, and a uid and data source variable for import', () => {
    expect(dashboard.uid).toBe('ipvs-maglev');
    expect(dashboard.templating.list.find((v) => v.type === 'datasource')?.name).toBe('datasource');
    expect(queries().length).toBeGreaterThanOrEqual(30);
  });

  it('panels sit on the 24-column grid without overlapping', () => {
    const boxes = dashboard.panels.map((p) => ({ title: p.title, ...(p as unknown as { gridPos: { x: number; y: number; w: number; h: number } }).gridPos }));
    for (const b of boxes) expect(b.x + b.w, b.title).toBeLessThanOrEqual(24);
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const [a, b] = [boxes[i], boxes[j]];
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        expect(overlap, `${a.title} / ${b.title}`).toBe(false);
      }
    }
  });

  it('every query parses as PromQL and names only metrics and labels the program exports', async () => {
    const metrics = await exported();
    const problems: string[] = [];
    for (const { where, expr } of queries()) {
      const p = parse(expr);
      problems.push(...p.errors.map((e) => `${where}: ${e}`));
      if (p.selectors.length === 0) problems.push(`${where}: no metric in ${expr}`);
      const labelsHere = new Set<string>(TARGET_LABELS);
      for (const s of p.selectors) {
        const m = metrics.get(s.metric);
        if (!m) {
          problems.push(`${where}: ${s.metric || '(a selector without a name)'} is not exported`);
          continue;
        }
        for (const l of m.labels) labelsHere.add(l);
        for (const l of s.labels) if (!m.labels.has(l)) problems.push(`${where}: ${s.metric} has no label "${l}"`);
      }
      for (const l of p.grouping) if (!labelsHere.has(l)) problems.push(`${where}: groups by "${l}", a label none of its metrics has`);
    }
    expect(problems).toEqual([]);
  });

  it('charts every metric of the program (Node.js and process metrics aside: the dashboard picks four of those)', async () => {
    const used = new Set(queries().flatMap(({ expr }) => parse(expr).selectors.map((s) => s.metric.replace(/_(bucket|sum|count)$/, ''))));
    const own = [...(await exported()).entries()]
      .filter(([name, m]) => !/^ipvs_maglev_(process|nodejs)_/.test(name) && !(m.type === 'counter' && /_(sum|count|bucket)$/.test(name)))
      .map(([name]) => name);
    expect(own.filter((n) => !used.has(n))).toEqual([]);
  });

  it('template variables read label values of exported metrics', async () => {
    const metrics = await exported();
    const vars = dashboard.templating.list.filter((v) => v.type === 'query');
    expect(vars.map((v) => v.name)).toEqual(['job', 'instance', 'service']);
    for (const v of vars) {
      const q = typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
      const m = /^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$/.exec(q);
      expect(m, q).not.toBeNull();
      const p = parse(m![1]);
      expect(p.errors).toEqual([]);
      const metric = metrics.get(p.selectors[0].metric);
      expect(metric, q).toBeDefined();
      expect(metric!.labels.has(m![2]), q).toBe(true);
    }
  });

  it('the checker itself catches a wrong metric, a wrong label and a syntax error', async () => {
    const metrics = await exported();
    expect(metrics.has('ipvs_maglev_services')).toBe(true);
    expect(metrics.has('ipvs_maglev_sync_duration_seconds_bucket')).toBe(true);
    expect(parse('sum(rate(ipvs_maglev_no_such_total[5m]))').selectors.map((s) => metrics.has(s.metric))).toEqual([false]);
    const wrongLabel = parse('ipvs_maglev_destination_weight{pod="x"}').selectors[0];
    expect(metrics.get(wrongLabel.metric)?.labels.has('pod')).toBe(false);
    expect(parse('sum(rate(ipvs_maglev_syncs_total[$__rate_interval])').errors.length).toBeGreaterThan(0);
  });
});
