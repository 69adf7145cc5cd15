import { ArgumentsHost, Catch, ExceptionFilter, Inject } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { errorFormatFor, sendError } from '../common/error-response';
import { LOGGER } from '../config/runtime';
import { ConfigValidationError } from './config-store.service';

/**
 * Schema problems of a config leave as a list, not one joined message: the API adds `issues`
 * (path, message, and in JSON text the line) to its error body, htmx gets the issue list partial
 * the editors show beside the document. Everything else goes to the common error response.
 */
@Catch()
export class SettingsErrorFilter implements ExceptionFilter {
  constructor(@Inject(LOGGER) private readonly logger: Logger) {}

  catch(e: unknown, host: ArgumentsHost): void {
    const req = host.switchToHttp().getRequest<Request>();
    const res = host.switchToHttp().getResponse<Response>();
    if (!(e instanceof ConfigValidationError) || res.headersSent) return sendError(req, res, e, this.logger);
    const format = errorFormatFor(req);
    if (format === 'api') {
      res.status(400).json({ error: { code: e.code, message: e.message, issues: e.issues, request_id: (req as { id?: string }).id } });
      return;
    }
    res.status(400);
    if (format === 'htmx') res.render('partials/settings/issues', { layout: false, issues: e.issues, refused: true });
    else res.render('settings/issues', { title: 'Settings', nav: 'settings', issues: e.issues, refused: true });
  }
}
