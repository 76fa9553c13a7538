import type { Response } from 'express';
import type * as jose from 'jose';

const MAX_JWKS_BYTES = 100_000;
const JWKS_TIMEOUT_MS = 5_000;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

export function htmlDocument(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:sans-serif;margin:0}header{background:#1f3b57;color:#fff;padding:.6em 1em}main{padding:1em}
iframe{width:100%;height:80vh;border:1px solid #ccc}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em}</style>
</head>
<body>${body}</body>
</html>`;
}

/** A page that immediately POSTs `fields` to `action` as application/x-www-form-urlencoded, like an LMS does. */
export function autoPostPage(title: string, action: string, fields: Record<string, string>, formName: string): string {
  const inputs = Object.entries(fields)
    .map(([name, value]) => `  <input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}"/>`)
    .join('\n');
  return htmlDocument(
    title,
    `<form action="${escapeHtml(action)}" name="${formName}" id="${formName}" method="post" enctype="application/x-www-form-urlencoded">
${inputs}
  <noscript><button type="submit">Continue</button></noscript>
</form>
<script>document.getElementById('${formName}').submit();</script>`,
  );
}

export function sendErrorPage(res: Response, status: number, title: string, message: string): void {
  res
    .status(status)
    .type('html')
    .send(htmlDocument(title, `<header>${escapeHtml(title)}</header><main><p class="error">${escapeHtml(message)}</p></main>`));
}

/** The first string value of `name` in a parsed query string or form body. */
export function param(source: unknown, name: string): string | undefined {
  if (!source || typeof source !== 'object') return undefined;
  const value = (source as Record<string, unknown>)[name];
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  return undefined;
}

export function flattenQuery(query: unknown): Record<string, string> {
  const flat: Record<string, string> = {};
  if (!query || typeof query !== 'object') return flat;
  for (const [name, value] of Object.entries(query as Record<string, unknown>)) {
    flat[name] = Array.isArray(value) ? value.map(String).join(',') : String(value);
  }
  return flat;
}

function isLoopbackUrl(url: string): boolean {
  try {
    const parsed = new URL(url);
    return (parsed.protocol === 'http:' || parsed.protocol === 'https:') && LOOPBACK_HOSTS.has(parsed.hostname);
  } catch {
    return false;
  }
}

/** Fetches a tool's JWKS; only loopback URLs are contacted. */
export async function fetchToolJwks(url: string): Promise<jose.JSONWebKeySet> {
  if (!isLoopbackUrl(url)) throw new Error(`jwks_uri ${url} is not a loopback URL; the emulator contacts nothing else`);
  const response = await fetch(url, { signal: AbortSignal.timeout(JWKS_TIMEOUT_MS), headers: { accept: 'application/json' } });
  if (!response.ok) throw new Error(`jwks_uri answered ${response.status}`);
  const text = await response.text();
  if (text.length > MAX_JWKS_BYTES) throw new Error('jwks_uri answered more than 100 kB');
  const body: unknown = JSON.parse(text);
  if (!body || typeof body !== 'object' || !Array.isArray((body as { keys?: unknown }).keys)) {
    throw new Error('jwks_uri did not answer a JWK set');
  }
  return body as jose.JSONWebKeySet;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    const parsed = new URL(value);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:';
  } catch {
    return false;
  }
}

/** The media type of a Content-Type or Accept value, without parameters, lower-cased. */
export function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}
