import type { LaunchParams, LmsEmulator } from '../emulator/index.js';

/** The hidden fields and action of an auto-submitting form page (as LMSs and ltijs produce). */
export function parseAutoPostForm(html: string): { action: string; fields: Record<string, string> } {
  const decode = (s: string) => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  const action = /<form[^>]*action="([^"]*)"/i.exec(html)?.[1];
  if (action === undefined) throw new Error(`no form in page: ${html.slice(0, 300)}`);
  const fields: Record<string, string> = {};
  for (const m of html.matchAll(/<input[^>]*name="([^"]*)"[^>]*value="([^"]*)"/gi)) fields[decode(m[1]!)] = decode(m[2]!);
  return { action: decode(action), fields };
}

export interface PageResult {
  status: number;
  html: string;
  url: string;
  headers?: Headers;
}

/**
 * A browser without a browser: keeps the tool's cookies and follows the real LTI 1.3 flow
 * (login initiation → platform auth endpoint → form-posted id_token → ltik redirect) over HTTP.
 */
export class LtiBrowser {
  private readonly cookies = new Map<string, string>();

  constructor(private readonly acceptLanguage = 'en') {}

  async fetch(url: string, init: { method?: string; form?: Record<string, string> | Array<[string, string]>; json?: unknown; rawJson?: string; bearer?: string; headers?: Record<string, string> } = {}): Promise<Response> {
    const api = init.json !== undefined || init.rawJson !== undefined || init.bearer !== undefined;
    const headers: Record<string, string> = { 'accept-language': this.acceptLanguage, accept: api ? 'application/json' : 'text/html', ...init.headers };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (init.form) headers['content-type'] = 'application/x-www-form-urlencoded';
    if (init.json !== undefined || init.rawJson !== undefined) headers['content-type'] = 'application/json';
    if (init.bearer) headers.authorization = `Bearer ${init.bearer}`;
    const body = init.form ? new URLSearchParams(init.form).toString() : init.json !== undefined ? JSON.stringify(init.json) : init.rawJson ?? null;
    const res = await fetch(url, {
      method: init.method ?? (body !== null ? 'POST' : 'GET'),
      headers,
      body,
      redirect: 'manual',
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      if (/max-age=0|expires=thu, 01 jan 1970/i.test(c)) this.cookies.delete(name);
      else this.cookies.set(name, pair!.slice(eq + 1));
    }
    return res;
  }

  /** Follows redirects (GET) until a page answers. */
  async follow(res: Response, base: string): Promise<PageResult> {
    let current = res;
    let url = base;
    for (let hops = 0; current.status >= 300 && current.status < 400; hops++) {
      if (hops > 5) throw new Error('too many redirects');
      url = new URL(current.headers.get('location')!, url).toString();
      current = await this.fetch(url);
    }
    return { status: current.status, html: await current.text(), url, headers: current.headers };
  }

  /** Login initiation at the tool; returns the tool's redirect to the platform's auth endpoint. */
  async startLogin(emu: LmsEmulator, params: LaunchParams): Promise<{ status: number; authUrl: URL | undefined; html: string }> {
    const login = emu.initiateLogin(params);
    const res = await this.fetch(login.url, { form: login.form });
    const location = res.headers.get('location');
    return { status: res.status, authUrl: location ? new URL(location) : undefined, html: location ? '' : await res.text() };
  }

  /** Posts an id_token and state to the tool's launch URL, following the ltik redirect. */
  async postLaunch(launchUrl: string, idToken: string, state: string): Promise<PageResult> {
    return this.follow(await this.fetch(launchUrl, { form: { id_token: idToken, state } }), launchUrl);
  }

  /** The whole launch as a browser does it. */
  async launch(emu: LmsEmulator, params: LaunchParams): Promise<PageResult & { ltik: string | undefined }> {
    const login = await this.startLogin(emu, params);
    if (!login.authUrl) return { status: login.status, html: login.html, url: '', ltik: undefined };
    const auth = await fetch(login.authUrl, { redirect: 'manual' });
    const form = parseAutoPostForm(await auth.text());
    const page = await this.postLaunch(form.action, form.fields.id_token!, form.fields.state!);
    return { ...page, ltik: new URL(page.url).searchParams.get('ltik') ?? undefined };
  }
}
