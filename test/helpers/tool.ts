import net from 'node:net';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config.js';
import { startTool, type RunningTool } from '../../src/server.js';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Log records the tool wrote, parsed; tests assert on them (and that no secret appears in them). */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    done();
  }
  records(): Array<Record<string, unknown>> {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }
  text(): string {
    return this.lines.join('\n');
  }
}

export interface TestTool extends RunningTool {
  logs: LogCapture;
}

/** Starts the real tool on a free loopback port with PUBLIC_URL pointing at it. */
export async function startTestTool(env: Record<string, string>): Promise<TestTool> {
  const port = await freePort();
  // Suites verify and register far more often than people do; the rate limits have their own test.
  const config = loadConfig({
    LOG_LEVEL: 'info', PUBLIC_URL: `http://127.0.0.1:${port}`, RATE_LIMIT_PER_MINUTE: '1000000', RATE_LIMIT_REGISTRATIONS_PER_MINUTE: '1000000', ...env, PORT: String(port),
  });
  const logs = new LogCapture();
  const tool = await startTool(config, logs);
  return Object.assign(tool, { logs });
}
