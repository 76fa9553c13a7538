import type { Request, Response } from 'express';
import type { LtijsIdToken, LtijsProvider } from 'ltijs';
import { z } from 'zod';
import type { AwardingService } from '../credentials/awarding.js';
import { ASSESSMENT_TYPES, PARTICIPATION_FORMS, SUPERVISION_TYPES } from '../credentials/definition-schema.js';
import { CredentialNotFoundError, type CourseRef, type CredentialView, type DefinitionService } from '../credentials/definitions.js';
import type { Db } from '../db/database.js';
import { GradebookError } from '../gradebook/errors.js';
import type { GradebookLineItem } from '../gradebook/types.js';
import { handle } from './async-handler.js';
import {
  ALIGNMENT_FIELDS, alignmentRows, formValuesFromDefinition, formValuesFromPost, newFormValues, postedForm, shownErrors, submissionFromForm,
  type FormValues, type ShownError,
} from './credential-form.js';
import { translator } from './i18n.js';
import { sessionUrl, staffCourse } from './launch-course.js';
import { LTI_ROUTES } from '../lti/tool-configuration.js';
import { renderError, renderPage, requestLanguage } from './render.js';

interface Deps {
  lti: LtijsProvider;
  db: Db;
  definitions: DefinitionService;
  awarding: AwardingService;
}

const credentialId = z.string().uuid();

/** The course's columns now, or null when the LMS cannot be read (the page then offers JSON only). */
async function readLineItems(awarding: AwardingService, course: CourseRef): Promise<GradebookLineItem[] | null> {
  try {
    return await awarding.courseLineItems(course.contextRef);
  } catch (err) {
    if (err instanceof GradebookError) return null;
    throw err;
  }
}

/**
 * The instructor's credential editor, in the LMS iframe: a server-rendered form that works without
 * JS, with views/static/criteria-builder.js editing the criteria JSON when JS runs. Staff only,
 * scoped to the launch's course.
 */
export function editorRoutes({ lti, db, definitions, awarding }: Deps): void {
  /** The credential being edited, or a 404 page for an id that is not one of this course's. */
  const existing = async (req: Request, res: Response, course: CourseRef): Promise<CredentialView | undefined> => {
    const id = credentialId.safeParse(req.params.id);
    try {
      if (id.success) return await definitions.get(course, id.data);
    } catch (err) {
      if (!(err instanceof CredentialNotFoundError)) throw err;
    }
    renderError(req, res, 404, { reason: 'not_found' });
    return undefined;
  };

  const showForm = async (req: Request, res: Response, status: number, page: {
    course: CourseRef; credential: CredentialView | null; values: FormValues; lineItems: GradebookLineItem[] | null;
    errors: ShownError[]; unreachableOnSave?: boolean;
  }) => {
    const t = translator(requestLanguage(req, res));
    const others = (await definitions.list(page.course)).filter((c) => c.id !== page.credential?.id);
    const ltik = res.locals.ltik as string;
    renderPage(req, res, status, 'credential-editor', {
      ltik,
      credential: page.credential && { id: page.credential.id, name: page.credential.definition.name, revision: page.credential.revision },
      action: page.credential ? `/app/credentials/${page.credential.id}` : '/app/credentials',
      homeUrl: sessionUrl(LTI_ROUTES.launch, res),
      values: page.values,
      alignmentRows: alignmentRows(page.values),
      alignmentFields: ALIGNMENT_FIELDS,
      lineItems: page.lineItems ?? [],
      lmsUnreachable: page.lineItems === null,
      unreachableOnSave: page.unreachableOnSave ?? false,
      errors: page.errors,
      errorFor: (field: string) => page.errors.filter((e) => e.field === field),
      choices: { assessmentTypes: ASSESSMENT_TYPES, participation: PARTICIPATION_FORMS, supervision: SUPERVISION_TYPES },
      // Read by the builder script: the course's real columns, the prerequisites to offer, and its texts.
      builderData: JSON.stringify({
        lineItems: (page.lineItems ?? []).map((li) => ({ id: li.id, label: li.label, tag: li.tag ?? null, scoreMaximum: li.scoreMaximum })),
        credentials: others.map((c) => ({ id: c.id, name: c.definition.name })),
        errors: page.errors.filter((e) => e.criteriaPath !== null).map((e) => ({ path: e.criteriaPath, message: e.message })),
        strings: t('editor.builder', { returnObjects: true }),
      }).replace(/</g, '\\u003c'),
    });
  };

  const save = async (req: Request, res: Response, course: CourseRef, credential: CredentialView | null) => {
    const t = translator(requestLanguage(req, res));
    const body = postedForm.safeParse(req.body ?? {});
    if (!body.success) return renderError(req, res, 400, { reason: 'bad_body' });
    const values = formValuesFromPost(body.data);
    const lineItems = await readLineItems(awarding, course);
    if (lineItems === null) return showForm(req, res, 503, { course, credential, values, lineItems, errors: [], unreachableOnSave: true });
    const submission = submissionFromForm(values);
    const actor = (res.locals.token as LtijsIdToken).user;
    const saved = credential
      ? await definitions.update(course, credential.id, submission.input, lineItems, actor)
      : await definitions.create(course, submission.input, lineItems, actor);
    // A textarea that is not JSON never saves: the service saw null criteria and refused them.
    if (saved.ok) return res.redirect(303, sessionUrl(LTI_ROUTES.launch, res));
    return showForm(req, res, 400, { course, credential, values, lineItems, errors: shownErrors(saved.errors, submission, t) });
  };

  lti.app.get('/app/credentials/new', handle(async (req: Request, res: Response) => {
    const course = await staffCourse(db, req, res);
    if (!course) return;
    const lineItems = await readLineItems(awarding, course);
    await showForm(req, res, 200, { course, credential: null, values: newFormValues(requestLanguage(req, res), lineItems?.[0]?.id), lineItems, errors: [] });
  }));

  lti.app.get('/app/credentials/:id/edit', handle(async (req: Request, res: Response) => {
    const course = await staffCourse(db, req, res);
    const credential = course && (await existing(req, res, course));
    if (!course || !credential) return;
    const lineItems = await readLineItems(awarding, course);
    await showForm(req, res, 200, { course, credential, values: formValuesFromDefinition(credential.definition, credential.criteria), lineItems, errors: [] });
  }));

  lti.app.post('/app/credentials', handle(async (req: Request, res: Response) => {
    const course = await staffCourse(db, req, res);
    if (course) await save(req, res, course, null);
  }));

  lti.app.post('/app/credentials/:id', handle(async (req: Request, res: Response) => {
    const course = await staffCourse(db, req, res);
    const credential = course && (await existing(req, res, course));
    if (course && credential) await save(req, res, course, credential);
  }));
}
