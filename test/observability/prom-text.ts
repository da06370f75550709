/**
 * @module
 * A small parser of the Prometheus text exposition format (version 0.0.4), enough to read back what
 * `registry.metrics()` produced and check it against the counters: `# HELP`, `# TYPE` and samples with
 * escaped label values. It is strict on purpose: a line it does not understand fails the test.
 */

/** One sample line: `name{label="value",...} value`. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** One metric family: its HELP, TYPE and samples (including `_sum`/`_count` of summaries). */
export interface Family {
  readonly name: string;
  help: string;
  type: string;
  readonly samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

function parseValue(text: string): number {
  if (text === "+Inf") return Number.POSITIVE_INFINITY;
  if (text === "-Inf") return Number.NEGATIVE_INFINITY;
  if (text === "NaN") return Number.NaN;
  const value = Number(text);
  if (text.trim() === "" || Number.isNaN(value)) throw new Error(`bad sample value ${JSON.stringify(text)}`);
  return value;
}

/** Parses `{a="x",b="y\"z"}` starting at `text[0] === "{"`; returns the labels and what follows. */
function parseLabels(text: string): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let i = 1;
  for (;;) {
    if (text[i] === "}") return { labels, rest: text.slice(i + 1) };
    const name = LABEL_NAME.exec(text.slice(i))?.[0];
    if (!name) throw new Error(`bad label name at ${JSON.stringify(text.slice(i))}`);
    i += name.length;
    if (text[i] !== "=" || text[i + 1] !== '"') throw new Error(`expected ="… after label ${name}`);
    i += 2;
    let value = "";
    for (;;) {
      const c = text[i];
      if (c === undefined) throw new Error("unterminated label value");
      if (c === '"') break;
      if (c === "\\") {
        const next = text[i + 1];
        if (next === "n") value += "\n";
        else if (next === "\\" || next === '"') value += next;
        else throw new Error(`bad escape \\${String(next)}`);
        i += 2;
      } else {
        value += c;
        i += 1;
      }
    }
    i += 1;
    if (name in labels) throw new Error(`label ${name} repeated`);
    labels[name] = value;
    if (text[i] === ",") i += 1;
    else if (text[i] !== "}") throw new Error(`expected , or } at ${JSON.stringify(text.slice(i))}`);
  }
}

/** The family a sample belongs to: summaries and histograms add suffixes to their family's name. */
function familyOf(families: Map<string, Family>, sampleName: string): Family {
  const direct = families.get(sampleName);
  if (direct) return direct;
  for (const suffix of ["_sum", "_count", "_bucket"]) {
    if (!sampleName.endsWith(suffix)) continue;
    const family = families.get(sampleName.slice(0, -suffix.length));
    if (family && (family.type === "summary" || family.type === "histogram")) return family;
  }
  throw new Error(`sample ${sampleName} has no # TYPE line before it`);
}

/** Parses a whole exposition into families by name. */
export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const family = (name: string): Family => {
    let found = families.get(name);
    if (!found) {
      found = { name, help: "", type: "untyped", samples: [] };
      families.set(name, found);
    }
    return found;
  };
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, "HELP" | "TYPE", string, string];
      if (kind === "HELP") family(name).help = rest.replace(/\\n/g, "\n").replace(/\\\\/g, "\\");
      else family(name).type = rest;
      continue;
    }
    if (line.startsWith("#")) continue;
    const name = NAME.exec(line)?.[0];
    if (!name) throw new Error(`bad sample line ${JSON.stringify(line)}`);
    let rest = line.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith("{")) ({ labels, rest } = parseLabels(rest));
    const fields = rest.trim().split(/\s+/);
    if (fields.length < 1 || fields.length > 2) throw new Error(`bad sample line ${JSON.stringify(line)}`);
    familyOf(families, name).samples.push({ name, labels, value: parseValue(fields[0] ?? "") });
  }
  return families;
}

/** The value of the one sample named `name` whose labels include `labels`; throws when none or several match. */
export function sampleValue(
  families: Map<string, Family>,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number {
  const matches: Sample[] = [];
  for (const family of families.values()) {
    for (const sample of family.samples) {
      if (sample.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => sample.labels[k] === v)) matches.push(sample);
    }
  }
  if (matches.length !== 1) {
    throw new Error(`expected one sample ${name}${JSON.stringify(labels)}, found ${matches.length}`);
  }
  return matches[0]!.value;
}
