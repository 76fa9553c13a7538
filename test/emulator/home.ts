import type { Express } from 'express';
import type { PlatformContext } from './context.js';
import { escapeHtml, htmlDocument } from './http-util.js';
import { launchUrl } from './launch.js';
import type { Course, RegisteredTool } from './types.js';

function link(href: string, text: string): string {
  return `<a href="${escapeHtml(href)}">${escapeHtml(text)}</a>`;
}

function toolsTable(tools: RegisteredTool[]): string {
  const rows = tools
    .map(
      (t) =>
        `<tr><td>${escapeHtml(t.name)}</td><td><code>${escapeHtml(t.clientId)}</code></td><td><code>${escapeHtml(t.deploymentId)}</code></td><td>${t.status}</td><td>${t.registeredVia}</td></tr>`,
    )
    .join('');
  return `<table><tr><th>Tool</th><th>Client id</th><th>Deployment id</th><th>Status</th><th>Registered</th></tr>${rows}</table>`;
}

function courseSection(ctx: PlatformContext, course: Course, activeTools: RegisteredTool[]): string {
  const members = ctx.store.members(course.id);
  const links = ctx.store.linksOf(course.id);
  const entries = links.flatMap((resourceLink) => {
    const tool = activeTools.find((t) => t.clientId === resourceLink.toolClientId);
    if (!tool) return [];
    const launches = members.map(({ user, roles }) => {
      const p = { userId: user.id, courseId: course.id, clientId: tool.clientId, resourceLinkId: resourceLink.id };
      const label = `Launch as ${user.name} (${roles.join(', ')})`;
      return `<li>${link(launchUrl(ctx, p), label)} · ${link(launchUrl(ctx, { ...p, presentation: 'iframe' }), 'embedded')}</li>`;
    });
    return [`<h3>${escapeHtml(resourceLink.title)} <small>(${escapeHtml(tool.name)})</small></h3><ul>${launches.join('')}</ul>`];
  });
  const deepLinks = activeTools
    .filter((t) => t.deepLinkingUri)
    .flatMap((tool) =>
      members
        .filter(({ roles }) => roles.some((r) => r !== 'Learner'))
        .map(({ user }) => {
          const href = launchUrl(ctx, { userId: user.id, courseId: course.id, clientId: tool.clientId, messageType: 'LtiDeepLinkingRequest' });
          return `<li>${link(href, `Add content from ${tool.name} as ${user.name}`)}</li>`;
        }),
    );
  const people = members.map(({ user, roles }) => `<li>${escapeHtml(user.name)} — ${escapeHtml(roles.join(', '))}</li>`).join('');
  return `<section><h2>${escapeHtml(course.title)} <small>(${escapeHtml(course.label)})</small></h2>
<h3>Participants</h3><ul>${people}</ul>${entries.join('')}${deepLinks.length > 0 ? `<h3>Deep linking</h3><ul>${deepLinks.join('')}</ul>` : ''}</section>`;
}

export function mountHomePage(app: Express, ctx: PlatformContext): void {
  app.get('/', (_req, res) => {
    const tools = [...ctx.store.tools.values()];
    const activeTools = tools.filter((t) => t.status === 'active');
    const courses = [...ctx.store.courses.values()].map((c) => courseSection(ctx, c, activeTools)).join('');
    res
      .type('html')
      .send(
        htmlDocument(
          ctx.platformName,
          `<header>${escapeHtml(ctx.platformName)} <small>(${ctx.profile.flavor} flavor)</small></header>
<main><h2>External tools</h2>${toolsTable(tools)}${courses || '<p>No courses yet.</p>'}</main>`,
        ),
      );
  });
}
