import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import type { LaunchRejection } from '../lti/launch-security.js';
import { formatDateTime, formatNumber, formatPercent, pickLanguage, translator, type Language } from './i18n.js';

/**
 * Session pages carry the ltik in their URL: never hand it to another site. Not no-referrer (which
 * ltijs' helmet sets on its responses): under it browsers send "Origin: null" on our own forms,
 * and browsers without Sec-Fetch-Site then look cross-site to the CSRF check. renderPage sets it
 * again on every page, after ltijs' headers.
 */
export const REFERRER_POLICY = 'same-origin';

/** The language of a request: the launch's locale when there is a session, else the browser's. */
export function requestLanguage(req: Request, res: Response): Language {
  const locale = (res.locals.context as { launchPresentation?: { locale?: string } } | undefined)?.launchPresentation?.locale;
  return pickLanguage(locale, req.get('accept-language'));
}

export function renderPage(req: Request, res: Response, status: number, view: string, locals: Record<string, unknown>): void {
  const lang = requestLanguage(req, res);
  const t = translator(lang);
  res.set('referrer-policy', REFERRER_POLICY);
  res.status(status).render(view, {
    lang, t, formatDate: (d: Date) => formatDateTime(d, lang), formatNumber: (n: number) => formatNumber(n, lang), formatPercent: (r: number) => formatPercent(r, lang), ...locals,
  });
}

export interface ErrorPage {
  /** i18n key under "errors." naming what went wrong. */
  reason: string;
  /** Interpolation values for the message; never secrets. */
  params?: Record<string, string>;
}

export function renderError(req: Request, res: Response, status: number, page: ErrorPage): void {
  // The API answers in JSON whatever the client accepts.
  // originalUrl: middleware mounted on a path sees req.path relative to its mount point.
  if (req.originalUrl.startsWith('/api/') || req.accepts(['html', 'json']) === 'json') {
    const t = translator(requestLanguage(req, res));
    res.status(status).json({ error: page.reason, message: t(`errors.${page.reason}.message`, page.params ?? {}) });
    return;
  }
  // The id the log line of this request carries, for support to find it.
  renderPage(req, res, status, 'error', { status, reason: page.reason, params: page.params ?? {}, requestId: status >= 500 ? String(req.id ?? '') : '' });
}

/** Rejects a login or launch: a clear page in the user's language, and a log line without any token. */
export function launchRejecter(logger: Logger) {
  return (req: Request, res: Response, status: number, reason: LaunchRejection, log: Record<string, unknown>) => {
    logger.warn({ reqId: req.id, reason, status, ...log }, 'LTI login or launch rejected');
    renderError(req, res, status, { reason });
  };
}
