// A strict parser of the Prometheus text exposition format 0.0.4 for the tests (no npm parser was
// both maintained and free of install scripts: parse-prometheus-text-format's last release is
// years old). It rejects what Prometheus would: a sample before its family's TYPE, a family split
// in two, bad names, unknown escapes, unterminated label values, duplicate series, histograms
// whose buckets are not cumulative or whose +Inf bucket differs from _count.
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

function parseValue(text: string, line: number): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  const n = Number(text);
  if (text === "" || !Number.isFinite(n)) throw new Error(`line ${line}: bad value '${text}'`);
  return n;
}

// name{a="x",b="y"} value — label values read character by character with their escapes.
function parseSample(text: string, line: number): Sample {
  let i = 0;
  while (i < text.length && text[i] !== "{" && text[i] !== " ") i++;
  const name = text.slice(0, i);
  if (!METRIC_NAME.test(name)) throw new Error(`line ${line}: bad metric name '${name}'`);
  const labels: Record<string, string> = {};
  if (text[i] === "{") {
    i++;
    while (text[i] !== "}") {
      const eq = text.indexOf("=", i);
      if (eq < 0) throw new Error(`line ${line}: label without '='`);
      const label = text.slice(i, eq);
      if (!LABEL_NAME.test(label)) throw new Error(`line ${line}: bad label name '${label}'`);
      if (label in labels) throw new Error(`line ${line}: label '${label}' twice`);
      if (text[eq + 1] !== '"') throw new Error(`line ${line}: label value not quoted`);
      let value = "";
      let j = eq + 2;
      for (;;) {
        const ch = text[j];
        if (ch === undefined) throw new Error(`line ${line}: unterminated label value`);
        if (ch === '"') break;
        if (ch === "\\") {
          const next = text[j + 1];
          if (next === "\\") value += "\\";
          else if (next === '"') value += '"';
          else if (next === "n") value += "\n";
          else throw new Error(`line ${line}: unknown escape '\\${next}'`);
          j += 2;
        } else {
          value += ch;
          j++;
        }
      }
      labels[label] = value;
      i = j + 1;
      if (text[i] === ",") i++;
      else if (text[i] !== "}") throw new Error(`line ${line}: expected ',' or '}' after a label`);
    }
    i++;
  }
  if (text[i] !== " ") throw new Error(`line ${line}: expected a space before the value`);
  const rest = text.slice(i + 1).split(" ");
  if (rest.length > 2) throw new Error(`line ${line}: trailing text`);
  return { name, labels, value: parseValue(rest[0]!, line) };
}

function familyOf(sample: string, families: Map<string, Family>): Family | undefined {
  for (const suffix of ["_bucket", "_sum", "_count", ""]) {
    if (!sample.endsWith(suffix)) continue;
    const family = families.get(sample.slice(0, sample.length - suffix.length));
    if (family && (suffix === "" || family.type === "histogram" || family.type === "summary")) return family;
  }
  return undefined;
}

export function parsePrometheus(text: string): Map<string, Family> {
  if (!text.endsWith("\n")) throw new Error("the exposition must end with a line feed");
  const families = new Map<string, Family>();
  const closed = new Set<string>();
  let current: Family | undefined;
  const seen = new Set<string>();
  text
    .slice(0, -1)
    .split("\n")
    .forEach((raw, index) => {
      const line = index + 1;
      if (raw.startsWith("# HELP ") || raw.startsWith("# TYPE ")) {
        const [, kind, name, ...rest] = raw.split(" ");
        if (!name || !METRIC_NAME.test(name)) throw new Error(`line ${line}: bad family name`);
        if (closed.has(name)) throw new Error(`line ${line}: family ${name} appears twice`);
        if (current && current.name !== name) closed.add(current.name);
        const family = families.get(name) ?? { name, type: "untyped", help: "", samples: [] };
        if (kind === "TYPE") {
          if (!TYPES.has(rest.join(" "))) throw new Error(`line ${line}: bad type`);
          if (family.samples.length) throw new Error(`line ${line}: TYPE after samples`);
          family.type = rest.join(" ");
        } else family.help = rest.join(" ");
        families.set(name, family);
        current = family;
        return;
      }
      if (raw.startsWith("#") || raw === "") return;
      const sample = parseSample(raw, line);
      const family = familyOf(sample.name, families);
      if (!family || family !== current) throw new Error(`line ${line}: sample ${sample.name} outside its family`);
      const key = `${sample.name}${JSON.stringify(Object.entries(sample.labels).sort())}`;
      if (seen.has(key)) throw new Error(`line ${line}: duplicate series ${key}`);
      seen.add(key);
      family.samples.push(sample);
    });
  for (const family of families.values()) if (family.type === "histogram") checkHistogram(family);
  return families;
}

function checkHistogram(family: Family): void {
  const series = new Map<string, { buckets: [number, number][]; count?: number; sum?: number }>();
  for (const s of family.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const entry = series.get(key) ?? { buckets: [] };
    series.set(key, entry);
    if (s.name.endsWith("_bucket")) entry.buckets.push([parseValue(le ?? "", 0), s.value]);
    else if (s.name.endsWith("_count")) entry.count = s.value;
    else if (s.name.endsWith("_sum")) entry.sum = s.value;
  }
  for (const [key, { buckets, count, sum }] of series) {
    const last = buckets.at(-1);
    if (!last || last[0] !== Infinity || last[1] !== count || sum === undefined) throw new Error(`${family.name} ${key}: +Inf bucket, _count or _sum wrong`);
    for (let i = 1; i < buckets.length; i++) {
      if (buckets[i]![0] <= buckets[i - 1]![0] || buckets[i]![1] < buckets[i - 1]![1]) throw new Error(`${family.name} ${key}: buckets not cumulative`);
    }
  }
}

// The one sample of a family whose labels include all of `labels`.
export function value(families: Map<string, Family>, name: string, labels: Record<string, string>, sampleName = name): number | undefined {
  const found = families.get(name)?.samples.filter((s) => s.name === sampleName && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (!found || found.length === 0) return undefined;
  if (found.length > 1) throw new Error(`${sampleName} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]!.value;
}
