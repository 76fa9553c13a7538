import type { ColumnType, Generated } from 'kysely';
import type { CreditSystem } from '../criteria/credits.js';

export interface PinnedKey {
  id: string;
  publicKeyMultibase: string;
}
import type { GradebookLineItem, GradebookResult } from '../gradebook/types.js';

/** What one decision was made on besides the columns and results it references: the tool's own records. */
export interface DecisionEvidence {
  fetchedAt: string;
  heldCredentials: string[];
  staffApprovals: string[];
}

type CreatedAt = ColumnType<Date, Date | undefined, never>;

/** Our tables. ltijs keeps its own (platforms, keys, tokens) through ltijs-sequelize. */
export interface Tables {
  platform_registration: {
    issuer: string;
    client_id: string;
    /** product_family_code from the platform's configuration, e.g. "moodle" or "canvas". */
    product_family: string | null;
    display_name: string;
    source: 'dynamic_registration' | 'cli';
    registered_at: CreatedAt;
  };
  lti_deployment: {
    issuer: string;
    client_id: string;
    deployment_id: string;
    added_at: CreatedAt;
  };
  oidc_login: {
    state: string;
    nonce: string;
    issuer: string;
    client_id: string;
    target_link_uri: string;
    expires_at: Date;
    storage_target: string | null;
  };
  pending_launch: {
    ticket: string;
    state: string;
    nonce: string;
    issuer: string;
    id_token: string;
    expires_at: Date;
  };
  platform_origin: {
    issuer: string;
    client_id: string;
    origin: string;
    first_seen_at: Generated<Date>;
  };
  lti_context: {
    id: Generated<string>;
    issuer: string;
    client_id: string;
    deployment_id: string;
    context_id: string;
    title: string | null;
    label: string | null;
    first_seen_at: CreatedAt;
    last_launch_at: Date;
    ags_lineitems_url: string | null;
    ags_scopes: ColumnType<string[], string[] | undefined, string[]>;
    nrps_memberships_url: string | null;
  };
  credential: {
    id: Generated<string>;
    context_ref: string;
    current_revision: number;
    created_at: CreatedAt;
    created_by: string;
    copied_from: string | null;
    write_back_line_item_url: string | null;
  };
  credential_revision: {
    credential_id: string;
    revision: number;
    definition: ColumnType<Record<string, unknown>, string, string>;
    criteria: ColumnType<unknown, string, string>;
    created_at: CreatedAt;
    created_by: string;
  };
  course_gradebook: {
    context_ref: string;
    fetched_at: Date;
    line_items: ColumnType<unknown[], string, string>;
  };
  /** Each distinct set of a course's gradebook columns that decisions were made on. */
  gradebook_columns: {
    id: Generated<string>;
    context_ref: string;
    columns_hash: string;
    line_items: ColumnType<GradebookLineItem[], string, never>;
    first_seen_at: CreatedAt;
  };
  /** Each distinct set of one learner's results in a course, as read from the LMS. */
  learner_results: {
    context_ref: string;
    results_hash: string;
    /** Each result names its line item (lineItemId). */
    results: ColumnType<GradebookResult[], string, never>;
    first_seen_at: CreatedAt;
  };
  learner_gradebook: {
    context_ref: string;
    user_id: string;
    fetched_at: Date;
    /** The learner's results as last read: learner_results. */
    results_hash: string;
    member: ColumnType<Record<string, unknown> | null, string | null, string | null>;
  };
  award_decision: {
    id: Generated<string>;
    credential_id: string;
    revision: number;
    user_id: string;
    qualified: boolean;
    /** The root's progress, 0..1; the full explanation is rebuilt from the evidence (src/credentials/explanations.ts). */
    progress: number;
    evidence: ColumnType<DecisionEvidence, string, never>;
    columns_id: string;
    results_hash: string;
    trigger: 'launch' | 'course_sync' | 'scheduled';
    decided_at: CreatedAt;
    evidence_hash: string;
  };
  staff_approval: {
    credential_id: string;
    user_id: string;
    approved_by: string;
    approved_at: CreatedAt;
    note: string | null;
  };
  course_sync: {
    context_ref: string;
    last_attempt_at: Date;
    last_success_at: Date | null;
    last_error: string | null;
    next_attempt_at: Date | null;
  };
  award: {
    credential_id: string;
    revision: number;
    user_id: string;
    /** Null for a staff award. */
    decision_id: string | null;
    awarded_at: CreatedAt;
    written_back_at: Date | null;
    /** Set for a staff award, with the staff member's note. */
    awarded_by: string | null;
    note: string | null;
    /** A revoked award is never claimed or awarded again under its revision. */
    revoked_at: Date | null;
  };
  issuer_profile: {
    id: Generated<string>;
    slug: string;
    name: string;
    url: string | null;
    email: string | null;
    description: string | null;
    image_url: string | null;
    country_code: string | null;
    is_default: boolean;
    created_at: CreatedAt;
  };
  issuer_key: {
    /** The verification method id: <issuer DID>#key-<n>. */
    id: string;
    issuer_id: string;
    public_key_multibase: string;
    sealed_secret: string;
    created_at: CreatedAt;
    retired_at: Date | null;
  };
  status_list: {
    id: Generated<string>;
    issuer_id: string;
    purpose: 'revocation';
    /** How many indexes were handed out; index n is (n × multiplier + offset) mod the list size. */
    allocated: Generated<number>;
    multiplier: number;
    offset: number;
    /** Bumped on every revocation; the signed copy is redone when it is behind. */
    version: Generated<number>;
    signed: ColumnType<Record<string, unknown> | null, string | null, string | null>;
    signed_version: number | null;
    created_at: CreatedAt;
  };
  issued_credential: {
    id: string;
    credential_id: string;
    revision: number;
    user_id: string;
    issuer_id: string;
    key_id: string;
    status_list_id: string;
    status_index: number;
    document: ColumnType<Record<string, unknown>, string, never>;
    /** The name printed on the certificate; the credential itself names no one. */
    holder_name: string | null;
    issued_at: CreatedAt;
    revoked_at: Date | null;
    revoked_by: string | null;
    revocation_reason: string | null;
    share_enabled: Generated<boolean>;
  };
  audit_event: {
    id: Generated<string>;
    at: CreatedAt;
    actor: string;
    action: string;
    target: string;
    details: ColumnType<Record<string, unknown>, string, string>;
  };
  /** A person: one or more LMS accounts known to be the same learner. */
  learner: {
    id: Generated<string>;
    created_at: CreatedAt;
  };
  /** An LMS account (platform issuer + LTI sub) and the learner it belongs to. */
  learner_account: {
    issuer: string;
    user_id: string;
    learner_id: string;
    /** How the account joined its learner: seen on its own, or linked by a credential the learner presented. */
    linked_by: 'first_seen' | 'presented_credential';
    linked_at: ColumnType<Date, Date | undefined, Date>;
  };
  accepted_issuer: {
    did: string;
    name: string;
    credit_system: CreditSystem;
    /** Ed25519 Multikey public keys by verification method id; none for did:key, whose key is the DID itself. */
    keys: ColumnType<PinnedKey[], string | undefined, string>;
    added_at: CreatedAt;
    added_by: string;
  };
  pathway: {
    id: Generated<string>;
    issuer_id: string;
    current_revision: number;
    created_at: CreatedAt;
    created_by: string;
    archived_at: Date | null;
  };
  pathway_revision: {
    pathway_id: string;
    revision: number;
    definition: ColumnType<Record<string, unknown>, string, string>;
    created_at: CreatedAt;
    created_by: string;
  };
  pathway_credential: {
    id: string;
    pathway_id: string;
    revision: number;
    learner_id: string;
    /** What the award was decided on: the credentials it counted and the credits. */
    basis: ColumnType<Record<string, unknown>, string, never>;
    issuer_id: string;
    key_id: string;
    status_list_id: string;
    status_index: number;
    document: ColumnType<Record<string, unknown>, string, never>;
    holder_name: string | null;
    issued_at: CreatedAt;
    revoked_at: Date | null;
    revoked_by: string | null;
    revocation_reason: string | null;
  };
  imported_credential: {
    id: Generated<string>;
    learner_id: string;
    issuer_did: string;
    achievement_id: string;
    achievement_name: string;
    /** numeric comes back as a string. */
    credits: ColumnType<string | null, number | null, never>;
    valid_from: Date;
    valid_until: Date | null;
    /** False: its status list is another issuer's and could not be read offline. */
    status_checked: boolean;
    document: ColumnType<Record<string, unknown>, string, never>;
    document_hash: string;
    imported_at: CreatedAt;
    imported_by: string;
  };
}
