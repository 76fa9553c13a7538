/** Identifiers fixed by the IMS specifications. */

export const SCOPE = {
  lineItem: 'https://purl.imsglobal.org/spec/lti-ags/scope/lineitem',
  lineItemReadOnly: 'https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly',
  resultReadOnly: 'https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly',
  score: 'https://purl.imsglobal.org/spec/lti-ags/scope/score',
  membershipReadOnly: 'https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly',
} as const;

export const AGS_SCOPES: readonly string[] = [SCOPE.lineItem, SCOPE.lineItemReadOnly, SCOPE.resultReadOnly, SCOPE.score];
export const SERVICE_SCOPES: readonly string[] = [...AGS_SCOPES, SCOPE.membershipReadOnly];

export const MEDIA_TYPE = {
  lineItemContainer: 'application/vnd.ims.lis.v2.lineitemcontainer+json',
  lineItem: 'application/vnd.ims.lis.v2.lineitem+json',
  resultContainer: 'application/vnd.ims.lis.v2.resultcontainer+json',
  score: 'application/vnd.ims.lis.v1.score+json',
  membershipContainer: 'application/vnd.ims.lti-nrps.v2.membershipcontainer+json',
  lisMembershipContainer: 'application/vnd.ims.lis.v2.membershipcontainer+json',
} as const;

export const CLAIM = {
  messageType: 'https://purl.imsglobal.org/spec/lti/claim/message_type',
  version: 'https://purl.imsglobal.org/spec/lti/claim/version',
  deploymentId: 'https://purl.imsglobal.org/spec/lti/claim/deployment_id',
  targetLinkUri: 'https://purl.imsglobal.org/spec/lti/claim/target_link_uri',
  resourceLink: 'https://purl.imsglobal.org/spec/lti/claim/resource_link',
  roles: 'https://purl.imsglobal.org/spec/lti/claim/roles',
  context: 'https://purl.imsglobal.org/spec/lti/claim/context',
  toolPlatform: 'https://purl.imsglobal.org/spec/lti/claim/tool_platform',
  launchPresentation: 'https://purl.imsglobal.org/spec/lti/claim/launch_presentation',
  custom: 'https://purl.imsglobal.org/spec/lti/claim/custom',
  lis: 'https://purl.imsglobal.org/spec/lti/claim/lis',
  ext: 'https://purl.imsglobal.org/spec/lti/claim/ext',
  lti1p1: 'https://purl.imsglobal.org/spec/lti/claim/lti1p1',
  lti11LegacyUserId: 'https://purl.imsglobal.org/spec/lti/claim/lti11_legacy_user_id',
  agsEndpoint: 'https://purl.imsglobal.org/spec/lti-ags/claim/endpoint',
  nrps: 'https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice',
  basicOutcome: 'https://purl.imsglobal.org/spec/lti-bo/claim/basicoutcome',
  deepLinkingSettings: 'https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings',
  deepLinkingContentItems: 'https://purl.imsglobal.org/spec/lti-dl/claim/content_items',
  deepLinkingData: 'https://purl.imsglobal.org/spec/lti-dl/claim/data',
  deepLinkingMsg: 'https://purl.imsglobal.org/spec/lti-dl/claim/msg',
  deepLinkingErrorMsg: 'https://purl.imsglobal.org/spec/lti-dl/claim/errormsg',
  canvasPlacement: 'https://www.instructure.com/placement',
} as const;

export const TOOL_CONFIGURATION = 'https://purl.imsglobal.org/spec/lti-tool-configuration';
export const PLATFORM_CONFIGURATION = 'https://purl.imsglobal.org/spec/lti-platform-configuration';

export const ROLE = {
  membershipInstructor: 'http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor',
  membershipLearner: 'http://purl.imsglobal.org/vocab/lis/v2/membership#Learner',
  membershipContentDeveloper: 'http://purl.imsglobal.org/vocab/lis/v2/membership#ContentDeveloper',
  /** Canvas spells the sub-role path with a lower-case "instructor". */
  canvasTeachingAssistant: 'http://purl.imsglobal.org/vocab/lis/v2/membership/instructor#TeachingAssistant',
  institutionAdministrator: 'http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator',
  institutionInstructor: 'http://purl.imsglobal.org/vocab/lis/v2/institution/person#Instructor',
  institutionStudent: 'http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student',
  systemAdministrator: 'http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator',
  systemUser: 'http://purl.imsglobal.org/vocab/lis/v2/system/person#User',
  /** Deprecated LIS v2 person role Moodle puts in NRPS for site administrators. */
  personAdministrator: 'http://purl.imsglobal.org/vocab/lis/v2/person#Administrator',
} as const;

export const COURSE_OFFERING = 'http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering';

export const ACTIVITY_PROGRESS: readonly string[] = ['Initialized', 'Started', 'InProgress', 'Submitted', 'Completed'];
export const GRADING_PROGRESS: readonly string[] = ['FullyGraded', 'Pending', 'PendingManual', 'Failed', 'NotReady'];

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
