// Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format): one HELP and
// TYPE line per metric family, then its samples. Label values escape backslash, double quote and
// line feed; HELP text escapes backslash and line feed.
export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export type Labels = Record<string, string>;

export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

// Go's strconv.FormatFloat style that Prometheus parses: integers plain, +Inf spelled out.
export function formatValue(n: number): string {
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  if (Number.isNaN(n)) return "NaN";
  return String(n);
}

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

export class Exposition {
  private readonly lines: string[] = [];

  family(name: string, type: "counter" | "gauge" | "histogram", help: string): void {
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
  }

  sample(name: string, labels: Labels, value: number): void {
    this.lines.push(`${name}${labelText(labels)} ${formatValue(value)}`);
  }

  // A histogram's cumulative buckets (bounds in the metric's unit, counts already cumulative),
  // then +Inf = count, _sum and _count.
  histogram(name: string, labels: Labels, bounds: readonly number[], cumulative: readonly number[], sum: number, count: number): void {
    bounds.forEach((le, i) => this.sample(`${name}_bucket`, { ...labels, le: formatValue(le) }, cumulative[i] ?? 0));
    this.sample(`${name}_bucket`, { ...labels, le: "+Inf" }, count);
    this.sample(`${name}_sum`, labels, sum);
    this.sample(`${name}_count`, labels, count);
  }

  text(): string {
    return this.lines.join("\n") + "\n";
  }
}
