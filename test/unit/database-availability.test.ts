import pg from 'pg';
import { AccessDeniedError, ConnectionAcquireTimeoutError, ConnectionError, ConnectionRefusedError, DatabaseError as SequelizeDatabaseError, UniqueConstraintError } from 'sequelize';
import { DatabaseUnavailableError, describeUnavailable, isDatabaseUnavailable } from '../../src/db/availability.js';

/** A socket error as Node raises it. */
const socketError = (code: string, syscall: string, message = `${syscall} ${code} 10.0.0.5:5432`) => Object.assign(new Error(message), { code, syscall });
/** An error the server sent, as pg raises it. */
const serverError = (code: string, message: string) => Object.assign(new pg.DatabaseError(message, 0, 'error'), { code });
/** Sequelize wraps the pg error of a failed query. */
const failedQuery = (cause: Error) => new SequelizeDatabaseError(cause as Error & { sql: string; parameters: object });

describe('what counts as the database being unreachable', () => {
  test.each([
    ['connection refused', socketError('ECONNREFUSED', 'connect')],
    ['connection reset', socketError('ECONNRESET', 'read')],
    ['host name not found', socketError('ENOTFOUND', 'getaddrinfo', 'getaddrinfo ENOTFOUND db')],
    ['the embedded database\'s socket gone', socketError('ENOENT', 'connect', 'connect ENOENT /data/run/.s.PGSQL.5432')],
    ['every address of a host name refused', Object.assign(new AggregateError([socketError('ECONNREFUSED', 'connect'), socketError('ECONNREFUSED', 'connect')]), { code: 'ECONNREFUSED' })],
    ['the server shutting down (57P01)', serverError('57P01', 'terminating connection due to administrator command')],
    ['the server starting up (57P03)', serverError('57P03', 'the database system is starting up')],
    ['too many connections (53300)', serverError('53300', 'sorry, too many clients already')],
    ['a connection exception (08006)', serverError('08006', 'connection failure')],
    ['a connection lost mid-query', new Error('Connection terminated unexpectedly')],
    ['pg-pool\'s connect timeout', new Error('Connection terminated due to connection timeout', { cause: new Error('Connection terminated unexpectedly') })],
    ['pg-pool waiting for a client too long', new Error('timeout exceeded when trying to connect')],
    ['Sequelize refused', new ConnectionRefusedError(socketError('ECONNREFUSED', 'connect'))],
    ['Sequelize\'s pool waiting too long', new ConnectionAcquireTimeoutError(new Error('TimeoutError'))],
    ['Sequelize wrapping another connect failure', new ConnectionError(socketError('ENOENT', 'connect'))],
    ['Sequelize wrapping a query cut off', failedQuery(new Error('Connection terminated unexpectedly'))],
    ['Sequelize wrapping a server shutdown', failedQuery(serverError('57P01', 'terminating connection due to administrator command'))],
    ['ours, for ltijs', new DatabaseUnavailableError(socketError('ECONNREFUSED', 'connect'))],
  ])('%s', (_name, err) => {
    expect(isDatabaseUnavailable(err)).toBe(true);
  });

  test.each([
    ['a unique violation', serverError('23505', 'duplicate key value violates unique constraint')],
    ['a syntax error', serverError('42601', 'syntax error at or near "selec"')],
    ['a wrong password (a setting, not an outage)', serverError('28P01', 'password authentication failed for user "tool"')],
    ['Sequelize access denied', new AccessDeniedError(serverError('28P01', 'password authentication failed'))],
    ['Sequelize unique violation', new UniqueConstraintError({})],
    ['a missing file', socketError('ENOENT', 'open', 'open /data/x')],
    ['fetch() failing to reach an LMS', new TypeError('fetch failed', { cause: socketError('ECONNREFUSED', 'connect') })],
    ['a plain error', new Error('boom')],
    ['a string', 'ECONNREFUSED'],
  ])('not %s', (_name, err) => {
    expect(isDatabaseUnavailable(err)).toBe(false);
  });

  test('the log gets the innermost code and message', () => {
    expect(describeUnavailable(new DatabaseUnavailableError(new ConnectionRefusedError(socketError('ECONNREFUSED', 'connect'))))).toEqual({ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 10.0.0.5:5432' });
    expect(describeUnavailable(new Error('Connection terminated unexpectedly'))).toEqual({ message: 'Connection terminated unexpectedly' });
  });
});
