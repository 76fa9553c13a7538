import type { ColumnType, Generated } from 'kysely';

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
  };
  audit_event: {
    id: Generated<string>;
    at: CreatedAt;
    actor: string;
    action: string;
    target: string;
    details: ColumnType<Record<string, unknown>, string, string>;
  };
}
