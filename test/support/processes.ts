import * as fs from 'node:fs';
import * as path from 'node:path';
import { ChildProcess, spawn } from 'node:child_process';
import { logFileFor } from './app';

export const ROOT = path.resolve(__dirname, '..', '..');
/** The project's own Node 24 (the `node` dev dependency), whatever node runs jest. */
export const NODE = path.join(ROOT, 'node_modules', '.bin', 'node');

function cleanEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8' };
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `bin/sluice.js` as a user would; its output is kept with the run's logs. */
export function runCli(args: string[], env: Record<string, string | undefined>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [path.join(ROOT, 'bin', 'sluice.js'), ...args], { env: cleanEnv(env), cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      // stderr is where the CLI logs; stdout is its answer (and prints a new token's secret by design).
      fs.appendFileSync(logFileFor('cli'), `$ sluice ${args.join(' ')}\n${stderr}\n`);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `dist/src/main.js` (what `npm start` runs) and waits for its "listening" line. */
export function startServer(env: Record<string, string | undefined>, timeoutMs = 60_000): Promise<ServerProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [path.join(ROOT, 'dist', 'src', 'main.js')], { env: cleanEnv(env), cwd: ROOT });
    const logFile = logFileFor('server');
    let out = '';
    let settled = false;
    const onData = (d: Buffer) => {
      out += d.toString();
      fs.appendFileSync(logFile, d);
      const m = /Sluice listening on (http:\/\/\S+)/.exec(out);
      if (m && !settled) {
        settled = true;
        clearTimeout(timer);
        resolve({
          child,
          url: m[1],
          output: () => out,
          stop: (signal = 'SIGTERM') =>
            new Promise((res) => {
              if (child.exitCode !== null) return res(child.exitCode);
              child.once('exit', (code) => res(code));
              child.kill(signal);
            }),
        });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(Object.assign(new Error(`server exited with ${code}: ${out.trim().split('\n').slice(-3).join(' | ')}`), { code, output: out }));
      }
    });
    const timer = setTimeout(() => {
      if (!settled) {
        settled = true;
        child.kill('SIGKILL');
        reject(new Error(`server did not start within ${timeoutMs} ms: ${out}`));
      }
    }, timeoutMs);
  });
}

/** Runs main.js expecting it to fail at boot; returns exit code and output. */
export function bootFailure(env: Record<string, string | undefined>): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(NODE, [path.join(ROOT, 'dist', 'src', 'main.js')], { env: cleanEnv(env), cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}
