import type { NextFunction, Request, Response } from 'express';
import { renderPage } from './render.js';

/** Who is on the admin screens, and how their requests prove it (see admin-routes.ts). */
export type AdminAccess =
  | { kind: 'local'; actor: string; csrfToken: string }
  | { kind: 'lti'; actor: string; issuer: string; clientId: string; ltik: string };

export const access = (res: Response) => res.locals.adminAccess as AdminAccess;

/** Links and hidden fields the shared views need: where the screens live and how a request proves its session. */
export function adminView(a: AdminAccess) {
  const base = a.kind === 'local' ? '/admin' : '/app/admin';
  return {
    kind: a.kind,
    base,
    csrfToken: a.kind === 'local' ? a.csrfToken : undefined,
    ltik: a.kind === 'lti' ? a.ltik : undefined,
    href: (path: string, query: Record<string, string | number | undefined> = {}) => {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') params.set(k, String(v));
      if (a.kind === 'lti') params.set('ltik', a.ltik);
      const qs = params.toString();
      return `${base}${path}${qs ? `?${qs}` : ''}`;
    },
  };
}

export function adminPage(req: Request, res: Response, status: number, view: string, locals: Record<string, unknown>): void {
  renderPage(req, res, status, `admin/${view}`, { admin: adminView(access(res)), ...locals });
}

/** An error page whose strings live under admin.errors. */
export function adminError(req: Request, res: Response, status: number, reason: string, params: Record<string, string> = {}): void {
  renderPage(req, res, status, 'error', { status, reason, params, keyPrefix: 'admin.errors.' });
}

/** Lets only the local admin through; an LTI admin gets the admin.errors page named by `reason`. */
export const localOnly = (reason: string) => (req: Request, res: Response, next: NextFunction) =>
  (access(res).kind === 'local' ? next() : adminError(req, res, 403, reason));

/** A form's text fields: strings only (a repeated field is not one), trimmed, empty ones left out. */
export function formFields<K extends string>(body: unknown, names: readonly K[]): Partial<Record<K, string>> {
  const out: Partial<Record<K, string>> = {};
  for (const name of names) {
    const value = (body as Record<string, unknown> | undefined)?.[name];
    if (typeof value === 'string' && value.trim() !== '') out[name] = value.trim();
  }
  return out;
}

/** A repeated form field (checkboxes): every non-empty string it carries. */
export function formList(body: unknown, name: string): string[] {
  const value = (body as Record<string, unknown> | undefined)?.[name];
  return [value].flat().filter((v): v is string => typeof v === 'string' && v.trim() !== '').map((v) => v.trim());
}
