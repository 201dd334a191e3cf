/**
 * A live `metered serve` for the tests: a fresh data folder, a free port, a test-mode key,
 * ready once GET /healthz answers. The Python is $METERED_PYTHON, else the repository's
 * .venv (../../.venv/bin/python from sdks/typescript).
 */

import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const PACKAGE_ROOT = fileURLToPath(new URL("..", import.meta.url));
const PYTHON = process.env["METERED_PYTHON"] ?? resolve(PACKAGE_ROOT, "../../.venv/bin/python");

export interface LiveServer {
  readonly baseUrl: string;
  readonly apiKey: string;
  stop(): Promise<void>;
}

export async function startServer(): Promise<LiveServer> {
  const dataDir = await mkdtemp(join(tmpdir(), "metered-ts-"));
  const keys = await run(PYTHON, [
    "-m",
    "metered.cli.main",
    "keys",
    "create",
    "--data-dir",
    dataDir,
  ]);
  const apiKey = keys.stdout.trim().split("\n").at(-1)?.trim() ?? "";
  if (!apiKey.startsWith("sk_"))
    throw new Error(`metered keys create printed no key: ${keys.stdout}`);
  const port = await freePort();
  const child = spawn(
    PYTHON,
    [
      "-m",
      "metered.cli.main",
      "serve",
      "--port",
      String(port),
      "--data-dir",
      dataDir,
      "--log-level",
      "warning",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    await waitHealthy(baseUrl, child, () => output);
  } catch (error) {
    await stopProcess(child);
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  return {
    baseUrl,
    apiKey,
    async stop() {
      await stopProcess(child);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

async function waitHealthy(
  baseUrl: string,
  child: ChildProcess,
  output: () => string,
): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`metered serve exited with ${child.exitCode}:\n${output()}`);
    }
    try {
      const answer = await fetch(`${baseUrl}/healthz`);
      if (answer.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`metered serve did not answer /healthz within 60 s:\n${output()}`);
}

/** SIGTERM (so it stops its parse workers), then SIGKILL if it is still up after 10 s. */
async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}
