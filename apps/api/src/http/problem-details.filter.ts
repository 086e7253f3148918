import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, HttpStatus } from '@nestjs/common';
import { DomainError } from '@bastion/domain';
import type { JsonLogger } from '@bastion/infra/runtime/logger';
import type { Request, Response } from 'express';
import { type Problem, PROBLEM_CONTENT_TYPE, ProblemError, problemType } from './problem';

const STATUS_SLUG: Record<number, string> = {
  400: 'bad-request',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not-found',
  405: 'method-not-allowed',
  409: 'conflict',
  413: 'payload-too-large',
  415: 'unsupported-media-type',
  422: 'unprocessable',
  429: 'too-many-requests',
  503: 'unavailable',
};

/** Domain error codes → HTTP status. One place, at the edge (STYLE: typed errors mapped once). */
const DOMAIN_STATUS: Record<string, number> = {
  'ORG.ALREADY_EXISTS': 409,
  'ORG.NOT_FOUND': 404,
  'ORG.INVALID_NAME': 422,
  'TASK.NOT_FOUND': 404,
  'TASK.ALREADY_EXISTS': 409,
  'TASK.CLOSED': 409,
  'TASK.INVALID': 422,
  'TASK.NOT_ASSIGNED_TO_AGENT': 403,
  'TASK.AGENT_CANNOT_ASSIGN': 403,
  'MR.NOT_FOUND': 404,
  'MR.CLOSED': 409,
  'MR.AGENT_CANNOT_APPROVE': 403,
  'MR.STALE_HEAD': 409,
  'MR.SELF_APPROVAL': 403,
  'MR.MFA_NOT_FRESH': 403,
  'MR.TESTS_REQUIRED': 409,
  'MR.ALREADY_APPROVED': 409,
  'MR.INVALID': 422,
  'MR.TEST_RUN_STALE_HEAD': 409,
  'MR.TEST_RUN_NOT_FOUND': 404,
  'MR.POLICY_INVALID': 400,
};

function fromHttpException(exception: HttpException): Problem {
  const status = exception.getStatus();
  const body = exception.getResponse();
  const slug = STATUS_SLUG[status] ?? (status >= 500 ? 'internal' : 'error');
  if (typeof body === 'object' && body !== null && 'type' in body && typeof (body as Problem).type === 'string') {
    return { ...(body as Problem), status };
  }
  const message = typeof body === 'object' && body !== null ? (body as { message?: unknown }).message : body;
  const detail = Array.isArray(message) ? message.join('; ') : typeof message === 'string' ? message : undefined;
  return { type: problemType(slug), title: HttpStatus[status]?.replace(/_/g, ' ').toLowerCase() ?? 'error', status, detail };
}

/**
 * Every error leaves as `application/problem+json`. Unexpected errors say nothing about their cause to the
 * caller; the log has it.
 */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  constructor(private readonly logger: JsonLogger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<Request>();
    const response = http.getResponse<Response>();
    let problem: Problem;
    if (exception instanceof ProblemError) {
      problem = exception.problem;
    } else if (exception instanceof HttpException) {
      problem = fromHttpException(exception);
    } else if (exception instanceof DomainError) {
      const status = DOMAIN_STATUS[exception.code] ?? 422;
      problem = { type: problemType(exception.code.toLowerCase().replace(/[._]/g, '-')), title: exception.message, status };
    } else if ((exception as { code?: string }).code === 'AUTH.SESSION_NOT_LIVE') {
      // The access token verified, but its session was revoked or expired: answered like any failed authentication.
      problem = { type: problemType('unauthenticated'), title: 'authentication required', status: 401 };
    } else if ((exception as { code?: string }).code === 'KMS.KEY_REVOKED') {
      problem = { type: problemType('key-revoked'), title: 'the organisation’s data key is revoked or unavailable', status: 409 };
    } else if ((exception as { code?: string }).code === 'BA001') {
      problem = { type: problemType('step-up-required'), title: 'verify MFA again to do this (step-up)', status: 403 };
    } else if ((exception as { code?: string }).code === 'BA002') {
      problem = { type: problemType('last-admin'), title: 'the last Admin cannot be removed or demoted', status: 409 };
    } else if ((exception as { code?: string }).code === 'BA003') {
      problem = { type: problemType('mfa-enrolment-required'), title: 'enrol MFA first: this organisation requires it', status: 403 };
    } else if ((exception as { code?: string }).code === 'BA004' || (exception as { code?: string }).code === 'BA005') {
      // Not a member of the org, or without the permission the route declares (authz.begin refused the request).
      problem = { type: problemType('forbidden'), title: 'forbidden', status: 403 };
    } else if ((exception as { code?: string }).code === '42501') {
      // The database refused: a definer function or an RLS policy. The caller learns only that it is forbidden.
      this.logger.event('warn', 'refused by the database', { path: request.path, method: request.method, error: exception });
      problem = { type: problemType('forbidden'), title: 'forbidden', status: 403 };
    } else if ((exception as { code?: string }).code === '40001' || (exception as { code?: string }).code === 'EVENT_STORE.WRONG_EXPECTED_REVISION') {
      problem = { type: problemType('concurrent-modification'), title: 'changed concurrently; retry', status: 409 };
    } else if ((exception as { type?: string }).type === 'entity.too.large') {
      problem = { type: problemType('payload-too-large'), title: 'payload too large', status: 413 };
    } else if ((exception as { type?: string }).type === 'entity.parse.failed') {
      problem = { type: problemType('malformed-json'), title: 'the body is not valid JSON', status: 400 };
    } else {
      this.logger.event('error', 'unhandled error', { error: exception, path: request.path, method: request.method });
      problem = { type: problemType('internal'), title: 'internal error', status: 500 };
    }
    problem.instance ??= request.originalUrl?.split('?')[0];
    response.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
  }
}
