import { Controller, Get, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ProxyService } from './proxy.service';

/**
 * OpenAI- and Anthropic-compatible routes; every route is one call into ProxyService. Most
 * requests never get here: the fast path (fast-path.ts) answers them from the HTTP server before
 * Express. These routes serve what it hands on (compressed bodies, other charsets, a trailing
 * slash, HEAD), with the same results.
 */
@Controller('v1')
export class ProxyController {
  constructor(private readonly proxy: ProxyService) {}

  @Get('models')
  models(@Req() req: Request, @Res() res: Response) {
    return this.proxy.listModels(req, res);
  }

  @Post('chat/completions')
  chat(@Req() req: Request, @Res() res: Response) {
    return this.proxy.handle('chat', req, res);
  }

  @Post('completions')
  completions(@Req() req: Request, @Res() res: Response) {
    return this.proxy.handle('completions', req, res);
  }

  @Post('embeddings')
  embeddings(@Req() req: Request, @Res() res: Response) {
    return this.proxy.handle('embeddings', req, res);
  }

  @Post('responses')
  responses(@Req() req: Request, @Res() res: Response) {
    return this.proxy.handle('responses', req, res);
  }

  @Post('messages')
  messages(@Req() req: Request, @Res() res: Response) {
    return this.proxy.handle('messages', req, res);
  }

  @Post('messages/count_tokens')
  countTokens(@Req() req: Request, @Res() res: Response) {
    return this.proxy.handle('count_tokens', req, res);
  }
}
