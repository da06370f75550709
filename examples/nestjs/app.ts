/**
 * NestJS with rate-sync: the module loads a TOML file and watches it, limits every route by IP, gives the
 * login route a limit per IP and per user at once, leaves the health check alone, and injects the instance
 * into a controller. Sends requests to itself, edits the file (the new limit applies without a restart),
 * prints what came back, exits.
 * Run: `npx tsx --tsconfig examples/nestjs/tsconfig.json examples/nestjs/app.ts [express|fastify]`
 */
import "reflect-metadata";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Body, Controller, Get, HttpCode, Module, Post } from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import { ExpressAdapter } from "@nestjs/platform-express";
import { FastifyAdapter } from "@nestjs/platform-fastify";
import { RateSync } from "rate-sync";
import { InjectRateSync, RateLimit, RateSyncModule, SkipRateLimit } from "rate-sync/nestjs";

const dir = mkdtempSync(join(tmpdir(), "rate-sync-nest-example-"));
const file = join(dir, "rate-sync.toml");
const config = (apiLimit: number) => `
[limiters."api:<ip>"]
algorithm = "sliding_window"
limit = ${apiLimit}
window = "1m"

[limiters."login:ip:<ip>"]
rate = "10/5m"

[limiters."login:user:<user>"]
algorithm = "sliding_window"
limit = 2
window = "5m"
`;
writeFileSync(file, config(3));

@Controller()
class AppController {
  // With `emitDecoratorMetadata` (tsc, SWC) the type alone is enough; tsx and esbuild need the decorator.
  constructor(@InjectRateSync() private readonly rs: RateSync) {}

  @Get("items")
  items() {
    return { items: [1, 2, 3] };
  }

  @Post("login")
  @HttpCode(200)
  @RateLimit(["login:ip:<ip>", "login:user:<user>"])
  login(@Body() body: { user?: string }) {
    return { welcome: body.user };
  }

  @Get("health")
  @SkipRateLimit()
  health() {
    return { up: true, limiters: this.rs.limiterIds() };
  }
}

@Module({
  imports: [
    RateSyncModule.forRoot({
      file,
      watch: true,
      key: "api:<ip>",
      // `<user>` of the login limit; the body is parsed before guards run on both platforms.
      user: (req: { body?: { user?: string } }) => req.body?.user,
    }),
  ],
  controllers: [AppController],
})
class AppModule {}

const platform = process.argv[2] === "fastify" ? "fastify" : "express";
const app = await NestFactory.create(
  AppModule,
  platform === "fastify" ? new FastifyAdapter() : new ExpressAdapter(),
  { logger: ["error", "warn"] },
);
await app.listen(0, "127.0.0.1");
const base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
console.log(`Nest on ${platform}`);

async function show(label: string, response: Response): Promise<void> {
  console.log(`${label}: ${response.status}  RateLimit: ${response.headers.get("ratelimit")}`);
  if (response.status === 429)
    console.log(`  Retry-After: ${response.headers.get("retry-after")}`, await response.json());
}

for (let i = 1; i <= 4; i++) await show(`GET /items #${i}`, await fetch(`${base}/items`));
for (let i = 1; i <= 3; i++) {
  const login = await fetch(`${base}/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user: "bob" }),
  });
  await show(`POST /login as bob #${i}`, login);
}
const health = await fetch(`${base}/health`);
console.log(
  `GET /health: ${health.status}  RateLimit: ${health.headers.get("ratelimit")}`,
  await health.json(),
);

// Raise the API limit in the file: the running app applies it without a restart.
const rs = app.get(RateSync);
const reloaded = new Promise((resolve) => rs.once("reload", resolve));
writeFileSync(file, config(5));
await reloaded;
await show("GET /items after the edit", await fetch(`${base}/items`));

await app.close(); // closes the instance the module made, and its file watcher
rmSync(dir, { recursive: true, force: true });
