import { mapRoles, primaryRole } from '../../src/lti/roles.js';

const M = 'http://purl.imsglobal.org/vocab/lis/v2/membership#';

describe('roles claim mapping', () => {
  test.each([
    [[`${M}Instructor`], { staff: true, learner: false, admin: false }, 'staff'],
    [['http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant'], { staff: true, learner: false, admin: false }, 'staff'],
    [[`${M}TeachingAssistant`], { staff: true, learner: false, admin: false }, 'staff'],
    [[`${M}Learner`], { staff: false, learner: true, admin: false }, 'learner'],
    [['http://purl.imsglobal.org/vocab/lis/v2/membership/Learner#NonCreditLearner'], { staff: false, learner: true, admin: false }, 'learner'],
    [['http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator'], { staff: false, learner: false, admin: true }, 'admin'],
    [['http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator', `${M}Instructor`], { staff: true, learner: false, admin: true }, 'admin'],
    [['Instructor'], { staff: true, learner: false, admin: false }, 'staff'],
    [[`${M}ContentDeveloper`], { staff: false, learner: false, admin: false }, 'guest'],
    [['http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student'], { staff: false, learner: false, admin: false }, 'guest'],
    [[], { staff: false, learner: false, admin: false }, 'guest'],
  ])('%j', (roles, expected, primary) => {
    const set = mapRoles(roles);
    expect(set).toEqual(expected);
    expect(primaryRole(set)).toBe(primary);
  });
});
