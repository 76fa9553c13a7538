import { randomBytes } from 'node:crypto';
import type { Express, Request, Response } from 'express';
import { buildLaunchClaims, defaultTargetLinkUri, resolveLaunch } from './claims.js';
import type { PlatformContext } from './context.js';
import { autoPostPage, escapeHtml, htmlDocument, param, sendErrorPage } from './http-util.js';
import type { LaunchParams, LoginInitiation, RegisteredTool } from './types.js';

const PENDING_LAUNCH_LIFETIME_MS = 600_000;

function isLaunchParams(value: unknown): value is LaunchParams {
  const v = value as Partial<LaunchParams> | undefined;
  return typeof v?.userId === 'string' && typeof v.courseId === 'string' && typeof v.clientId === 'string';
}

/** The OIDC third-party login initiation the platform sends to the tool, and the pending launch behind it. */
export function initiateLogin(ctx: PlatformContext, p: LaunchParams): LoginInitiation {
  const launch = resolveLaunch(ctx, p);
  if (launch.tool.status !== 'active') {
    throw new Error(`tool ${launch.tool.clientId} is pending activation; the platform refuses to launch it`);
  }
  const targetLinkUri = p.targetLinkUri ?? defaultTargetLinkUri(launch);
  const launchId = randomBytes(12).toString('hex');
  ctx.store.pendingLaunches.set(launchId, {
    ...p,
    messageType: launch.messageType,
    resourceLinkId: launch.link?.id,
    deploymentId: launch.deploymentId,
    targetLinkUri,
    expiresAt: Date.now() + PENDING_LAUNCH_LIFETIME_MS,
  });
  const form: Record<string, string> = {
    iss: ctx.base(),
    login_hint: launch.user.id,
    target_link_uri: targetLinkUri,
    lti_message_hint: ctx.keys().seal({ launch: launchId }),
    client_id: launch.tool.clientId,
    lti_deployment_id: launch.deploymentId,
  };
  if (ctx.profile.flavor === 'canvas') Object.assign(form, { canvas_region: 'not_configured', canvas_environment: 'prod' });
  if (p.presentation === 'iframe' && p.platformStorage !== false) form.lti_storage_target = ctx.profile.storageTarget;
  return { url: launch.tool.initiateLoginUri, form };
}

/** A URL on the emulator whose page starts the launch; 'iframe' gives an LMS page hosting the launch in an iframe. */
export function launchUrl(ctx: PlatformContext, p: LaunchParams): string {
  resolveLaunch(ctx, p);
  const page = p.presentation === 'iframe' ? ctx.profile.framePageUrl(ctx.base(), p.courseId) : ctx.profile.launchPageUrl(ctx.base(), p.courseId);
  page.searchParams.set('launch', ctx.keys().seal(p));
  return page.toString();
}

/** The auto-posting page itself, for use as the iframe source of the framing page. */
function framedLaunchPageUrl(ctx: PlatformContext, p: LaunchParams): string {
  const page = ctx.profile.launchPageUrl(ctx.base(), p.courseId);
  page.searchParams.set('launch', ctx.keys().seal({ ...p, presentation: 'iframe' }));
  return page.toString();
}

function launchFromQuery(ctx: PlatformContext, req: Request): LaunchParams | undefined {
  const sealed = param(req.query, 'launch');
  const value = sealed ? ctx.keys().unseal(sealed) : undefined;
  return isLaunchParams(value) ? value : undefined;
}

function serveLaunchPage(ctx: PlatformContext, req: Request, res: Response): void {
  const p = launchFromQuery(ctx, req);
  if (!p) return sendErrorPage(res, 400, 'Invalid launch', 'The launch link is missing or has been tampered with.');
  let initiation: LoginInitiation;
  try {
    initiation = initiateLogin(ctx, p);
  } catch (error) {
    return sendErrorPage(res, 400, 'Error', (error as Error).message);
  }
  res.type('html').send(autoPostPage('Launching…', initiation.url, initiation.form, 'ltiInitiateLoginForm'));
}

function serveFramePage(ctx: PlatformContext, req: Request, res: Response): void {
  const p = launchFromQuery(ctx, req);
  if (!p) return sendErrorPage(res, 400, 'Invalid launch', 'The launch link is missing or has been tampered with.');
  let frameSource: string;
  try {
    resolveLaunch(ctx, p);
    frameSource = framedLaunchPageUrl(ctx, p);
  } catch (error) {
    return sendErrorPage(res, 400, 'Error', (error as Error).message);
  }
  const course = ctx.store.course(p.courseId);
  const user = ctx.store.user(p.userId);
  const tool = ctx.store.tool(p.clientId);
  res.type('html').send(
    htmlDocument(
      `${course.label}: ${tool.name}`,
      `<header>${escapeHtml(ctx.platformName)} · ${escapeHtml(course.title)} · signed in as ${escapeHtml(user.name)}</header>
<main><h1>${escapeHtml(tool.name)}</h1>
<iframe id="contentframe" title="${escapeHtml(tool.name)}" src="${escapeHtml(frameSource)}"
 allow="microphone *; camera *; clipboard-write *" sandbox="allow-forms allow-popups allow-popups-to-escape-sandbox allow-same-origin allow-scripts allow-top-navigation allow-downloads"></iframe>
</main>${p.platformStorage === false ? '' : storageHost(ctx)}`,
    ),
  );
}

/**
 * The platform side of LTI client-side postMessages: values kept per tool origin for this page's
 * life, answered only to the window that asked, at its own origin.
 */
const STORAGE_SCRIPT = `<script>
(function () {
  var stored = {};
  window.addEventListener('message', function (event) {
    var m = event.data;
    if (!m || typeof m !== 'object' || typeof m.subject !== 'string' || !m.message_id) return;
    var reply = { subject: m.subject + '.response', message_id: m.message_id };
    var box = stored[event.origin] = stored[event.origin] || {};
    if (m.subject === 'lti.capabilities') {
      reply.supported_messages = [{ subject: 'lti.put_data' }, { subject: 'lti.get_data' }];
    } else if (m.subject === 'lti.put_data') {
      if (typeof m.key !== 'string' || !m.key) reply.error = { code: 'bad_request', message: 'key is required' };
      else { box[m.key] = m.value; reply.key = m.key; reply.value = m.value; }
    } else if (m.subject === 'lti.get_data') {
      if (!(m.key in box)) reply.error = { code: 'bad_request', message: 'no value stored for this key' };
      else { reply.key = m.key; reply.value = box[m.key]; }
    } else {
      reply.error = { code: 'unsupported_subject', message: 'unsupported subject ' + m.subject };
    }
    event.source.postMessage(reply, event.origin);
  });
})();
</script>`;

/** Where the framing page keeps storage: in itself (`_parent`), or in a hidden frame of that name. */
function storageHost(ctx: PlatformContext): string {
  const target = ctx.profile.storageTarget;
  return target === '_parent' ? STORAGE_SCRIPT : `<iframe name="${escapeHtml(target)}" src="/${escapeHtml(target)}" hidden title="LTI platform storage"></iframe>`;
}

function postError(res: Response, redirectUri: string, error: string, description: string, state: string | undefined): void {
  const fields: Record<string, string> = { error, error_description: description };
  if (state !== undefined) fields.state = state;
  res.type('html').send(autoPostPage('Error', redirectUri, fields, 'ltiAuthForm'));
}

function activeTool(ctx: PlatformContext, clientId: string | undefined): RegisteredTool | undefined {
  const tool = clientId ? ctx.store.tools.get(clientId) : undefined;
  return tool?.status === 'active' ? tool : undefined;
}

/** OIDC authorization endpoint (implicit flow, form_post), as the LTI 1.3 core spec profiles it. */
async function authorize(ctx: PlatformContext, req: Request, res: Response): Promise<void> {
  const source = req.method === 'POST' ? req.body : req.query;
  const get = (name: string): string | undefined => param(source, name);
  const tool = activeTool(ctx, get('client_id'));
  if (!tool) return sendErrorPage(res, 400, 'Invalid request', 'Unknown or inactive client_id.');
  const redirectUri = get('redirect_uri');
  // Without a registered redirect_uri there is nowhere safe to send the error to.
  if (!redirectUri || !tool.redirectUris.includes(redirectUri)) {
    return sendErrorPage(res, 400, 'Invalid request', 'redirect_uri is not one of the redirect URIs registered for this tool.');
  }
  const state = get('state');
  const fail = (error: string, description: string): void => postError(res, redirectUri, error, description, state);
  if (get('scope') !== 'openid') return fail('invalid_scope', 'scope must be openid');
  if (get('response_type') !== 'id_token') return fail('unsupported_response_type', 'response_type must be id_token');
  if (get('response_mode') !== 'form_post') return fail('invalid_request', 'response_mode must be form_post');
  if (get('prompt') !== 'none') return fail('invalid_request', 'prompt must be none');
  const nonce = get('nonce');
  if (!nonce) return fail('invalid_request', 'nonce is required');
  if (!state) return fail('invalid_request', 'state is required');

  const hint = get('lti_message_hint');
  const sealed = hint ? ctx.keys().unseal(hint) : undefined;
  const launchId = (sealed as { launch?: unknown } | undefined)?.launch;
  const pending = typeof launchId === 'string' ? ctx.store.pendingLaunches.take(launchId) : undefined;
  if (!pending) return fail('invalid_request', 'lti_message_hint is unknown, expired or already used');
  if (pending.clientId !== tool.clientId) return fail('unauthorized_client', 'lti_message_hint was issued for another client');
  if (get('login_hint') !== pending.userId) return fail('access_denied', 'login_hint does not match the user of this launch');

  let idToken: string;
  try {
    const claims = buildLaunchClaims(ctx, { ...pending, nonce, targetLinkUri: pending.targetLinkUri ?? tool.targetLinkUri });
    idToken = await ctx.keys().sign(claims);
  } catch (error) {
    return fail('server_error', (error as Error).message);
  }
  res.type('html').send(autoPostPage('Launching…', redirectUri, { id_token: idToken, state }, 'ltiAuthForm'));
}

function serveLaunchReturn(ctx: PlatformContext, req: Request, res: Response): void {
  const message = param(req.query, 'lti_msg') ?? param(req.query, 'lti_errormsg') ?? 'You have returned from the external tool.';
  res.type('html').send(htmlDocument('Returned', `<header>${escapeHtml(ctx.platformName)}</header><main><p>${escapeHtml(message)}</p></main>`));
}

export function mountLaunchRoutes(app: Express, ctx: PlatformContext): void {
  const { paths, routes } = ctx.profile;
  app.get(routes.launchPage, (req, res) => serveLaunchPage(ctx, req, res));
  app.get(routes.framePage, (req, res) => serveFramePage(ctx, req, res));
  app.get(routes.launchReturn, (req, res) => serveLaunchReturn(ctx, req, res));
  if (ctx.profile.storageTarget !== '_parent') app.get(`/${ctx.profile.storageTarget}`, (_req, res) => res.type('html').send(htmlDocument('Storage', STORAGE_SCRIPT)));
  app.get(paths.authorization, (req, res, next) => authorize(ctx, req, res).catch(next));
  app.post(paths.authorization, (req, res, next) => authorize(ctx, req, res).catch(next));
}
