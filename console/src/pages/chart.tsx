// One uPlot time-series chart. uPlot draws on a canvas, so the container carries a text
// description (role="img" + aria-label) of what it shows for screen readers.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";

export interface Series {
  label: string;
  values: number[];
  color: string;
}

// `summary`: the description's own text where a total means nothing (percentiles do not add up).
export function Chart({ title, times, series, testId, summary }: { title: string; times: number[]; series: Series[]; testId: string; summary?: string }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const data: uPlot.AlignedData = [times, ...series.map((s) => s.values)];

  useEffect(() => {
    if (!box.current) return;
    const width = Math.max(280, box.current.clientWidth || 480);
    plot.current = new uPlot(
      {
        width,
        height: 180,
        series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2 }))],
        axes: [{}, { size: 60 }],
        legend: { show: true },
      },
      data,
      box.current,
    );
    return () => plot.current?.destroy();
    // The series list (labels, colours) is fixed per chart; data changes go through setData below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    plot.current?.setData(data);
  });

  const latest = summary ?? `Totals: ${series.map((s) => `${s.label} ${s.values.reduce((a, b) => a + b, 0).toLocaleString("en")}`).join(", ")}`;
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} role="img" aria-label={`${title}, last hour by minute. ${latest}.`} data-testid={testId} />
    </figure>
  );
}
