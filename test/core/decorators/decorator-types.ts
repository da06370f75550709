/**
 * Type-level tests of `@rateLimited`: what compiles and what must not. Checked twice: by `tsc -p
 * tsconfig.test.json` (standard decorators) and by `tsc -p test/core/decorators/tsconfig.legacy.json`
 * (`experimentalDecorators: true`, run by `test/core/decorators.test.ts`). Each `@ts-expect-error` fails the
 * compile when its line stops being an error.
 */

import { rateLimited } from "../../../src/index.ts";

export class Checks {
  readonly tenant = "t";

  @rateLimited("api:<userId>") async fillsFromTheFirstArgument({
    userId,
  }: {
    userId: string;
    page?: number;
  }) {
    return userId;
  }

  @rateLimited("fixed", { mode: "try", timeout: "2s" }) async anyArguments(a: number, b: string) {
    return `${a}${b}`;
  }

  @rateLimited("a:<x>:<y>") async twoPlaceholders(options: { x: string; y: number }, more: boolean) {
    return options.x + String(more);
  }

  @rateLimited(function (this: Checks, id: string) {
    return `api:${this.tenant}:${id}`;
  })
  async keyFunctionWithThis(id: string) {
    return id;
  }

  @rateLimited(function (this: Checks) {
    return `reports:${this.tenant}`;
  })
  async keyFunctionReadingFewerArguments(name: string, more: number) {
    return name + String(more);
  }

  // A decorator does not know the method's result yet: `actualCost` names the type it reads.
  @rateLimited("llm", { cost: 100, actualCost: (reply: { tokens: number }) => reply.tokens })
  async settlesItsCost(prompt: string) {
    return { tokens: prompt.length };
  }

  // @ts-expect-error a method that does not return a promise
  @rateLimited("fixed") notAsync() {
    return 1;
  }

  // @ts-expect-error the first argument has no `userId` property for the template
  @rateLimited("api:<userId>") async wrongFirstArgument({ id }: { id: string }) {
    return id;
  }

  // @ts-expect-error a template needs a first argument
  @rateLimited("api:<userId>") async noArgument() {
    return 1;
  }

  // @ts-expect-error the key function's arguments are not the method's
  @rateLimited((id: number) => `api:${id}`) async keyFunctionMismatch(id: string) {
    return id;
  }
}

export class NotAMethod {
  // @ts-expect-error a field is not a method
  @rateLimited("fixed") field = async () => 1;
}

// @ts-expect-error the decorator form takes its options second, no third argument
rateLimited("fixed", {}, {});

/** The wrapper form still infers its function's type. */
export const wrapped: (options: { userId: string }) => Promise<number> = rateLimited(
  "api:<userId>",
  async (_options: { userId: string }) => 1,
);

/** The wrapper form knows the result: `actualCost` reads it typed, and a wrong property does not compile. */
export const settling = rateLimited("llm", async (prompt: string) => ({ tokens: prompt.length }), {
  actualCost: (reply) => reply.tokens,
});
export const misread = rateLimited("llm", async () => ({ tokens: 1 }), {
  // @ts-expect-error the result has no `words` property
  actualCost: (reply) => reply.words,
});
// @ts-expect-error an actualCost that does not return a number
export const notANumber = rateLimited("llm", async () => 1, { actualCost: (n) => String(n) });
