/**
 * @module
 * Template ids such as `api:<tenant>` (SPEC §3): compiled once into a matcher. A placeholder matches one or
 * more characters other than `:`; the last placeholder may contain `:`. When several templates match a key,
 * the one with the most literal characters wins.
 */

/** A compiled template. */
export interface CompiledTemplate {
  /** The template id, e.g. `api:<tenant>`. */
  readonly id: string;
  /** Placeholder names in order, e.g. `["tenant"]`. */
  readonly names: readonly string[];
  /** Count of literal (non-placeholder) characters: the tie-breaker between templates. */
  readonly literalLength: number;
  /** Anchored matcher; capture groups follow `names`. */
  readonly pattern: RegExp;
}

const PLACEHOLDER = /<([^<>]+)>/g;

/** True when an id contains `<name>` placeholders. */
export function isTemplateId(id: string): boolean {
  // Most ids have no `<` at all: answered without the regular expression (asked twice per limiter loaded).
  return id.includes("<") && /<[^<>]+>/.test(id);
}

/**
 * Why a limiter id cannot be used as written, or undefined when it can: an empty placeholder (`a:<>`) would
 * otherwise be taken as literal text, so `a:<>` would silently limit only the key `"a:<>"` instead of every
 * `a:…` key as its author meant.
 *
 * @example templateIdProblem("a:<>") // 'empty placeholder "<>": name it, as in "api:<tenant>"'
 */
export function templateIdProblem(id: string): string | undefined {
  return id.includes("<>") ? `empty placeholder "<>": name it, as in "api:<tenant>"` : undefined;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Compiles a template id into a matcher. */
export function compileTemplate(id: string): CompiledTemplate {
  const names: string[] = [];
  const literals: string[] = [];
  let last = 0;
  for (const match of id.matchAll(PLACEHOLDER)) {
    literals.push(id.slice(last, match.index));
    names.push(match[1]!);
    last = match.index + match[0].length;
  }
  literals.push(id.slice(last));
  let source = "^";
  for (let i = 0; i < names.length; i++) {
    source += escapeRegExp(literals[i]!);
    // Only the last placeholder may span `:`, so `a:<x>:<y>` splits `a:1:2:3` as x=1, y=2:3.
    source += i === names.length - 1 ? "(.+)" : "([^:]+)";
  }
  source += `${escapeRegExp(literals[names.length]!)}$`;
  return {
    id,
    names,
    literalLength: literals.reduce((sum, part) => sum + part.length, 0),
    pattern: new RegExp(source, "su"),
  };
}

/** The best matching template for `key` (most literal characters; ties: the first declared), if any. */
export function matchTemplate(
  templates: readonly CompiledTemplate[],
  key: string,
): CompiledTemplate | undefined {
  let best: CompiledTemplate | undefined;
  for (const template of templates) {
    if ((best === undefined || template.literalLength > best.literalLength) && template.pattern.test(key)) {
      best = template;
    }
  }
  return best;
}

/**
 * Fills a template's placeholders from an object's properties (`rateLimited("api:<userId>", fn)` called as
 * `fn({ userId: 42 })` → `api:42`). Returns undefined when a property is missing.
 */
export function fillTemplate(template: string, values: unknown): string | undefined {
  let missing = false;
  const filled = template.replace(PLACEHOLDER, (_whole, name: string) => {
    const value =
      values !== null &&
      (typeof values === "object" || typeof values === "function") &&
      Object.hasOwn(values, name)
        ? (values as Record<string, unknown>)[name]
        : undefined;
    if (value === undefined || value === null || value === "") {
      missing = true;
      return "";
    }
    return String(value);
  });
  return missing ? undefined : filled;
}
