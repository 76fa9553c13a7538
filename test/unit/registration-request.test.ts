import { buildRegistrationRequest } from '../../src/lti/dynamic-registration.js';

const platform = (claims?: string[], family = 'moodle') => ({
  issuer: 'https://moodle.example.ac.jp',
  authorization_endpoint: 'https://moodle.example.ac.jp/mod/lti/auth.php',
  token_endpoint: 'https://moodle.example.ac.jp/mod/lti/token.php',
  jwks_uri: 'https://moodle.example.ac.jp/mod/lti/certs.php',
  registration_endpoint: 'https://moodle.example.ac.jp/mod/lti/openid-registration.php',
  ...(claims ? { claims_supported: claims } : {}),
  'https://purl.imsglobal.org/spec/lti-platform-configuration': { product_family_code: family },
});
const toolConfig = (r: ReturnType<typeof buildRegistrationRequest>) => r['https://purl.imsglobal.org/spec/lti-tool-configuration'];

describe('the registration request', () => {
  test('names the bare host as domain on a default port, and host:port otherwise', () => {
    expect(toolConfig(buildRegistrationRequest({ publicUrl: 'https://badges.example.ac.jp', toolName: 'MC' }, platform())).domain).toBe('badges.example.ac.jp');
    expect(toolConfig(buildRegistrationRequest({ publicUrl: 'http://127.0.0.1:3101', toolName: 'MC' }, platform())).domain).toBe('127.0.0.1:3101');
  });

  test('asks only for the claims the tool uses, and only those the platform offers', () => {
    const offered = ['iss', 'sub', 'name', 'given_name', 'family_name', 'email', 'picture', 'nickname', 'locale', 'https://purl.imsglobal.org/spec/lti/claim/lis'];
    expect(toolConfig(buildRegistrationRequest({ publicUrl: 'https://b.example', toolName: 'MC' }, platform(offered))).claims)
      .toEqual(['iss', 'sub', 'name', 'given_name', 'family_name', 'email', 'locale']);
    expect(toolConfig(buildRegistrationRequest({ publicUrl: 'https://b.example', toolName: 'MC' }, platform(['iss', 'sub']))).claims).toEqual(['iss', 'sub']);
  });

  test('uses the registered launch URL as the only redirect URI', () => {
    const r = buildRegistrationRequest({ publicUrl: 'https://b.example', toolName: 'MC' }, platform());
    expect(r.redirect_uris).toEqual(['https://b.example/lti/launch']);
    expect(toolConfig(r).target_link_uri).toBe('https://b.example/lti/launch');
  });
});
