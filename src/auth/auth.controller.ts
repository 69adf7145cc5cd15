import { Controller, Get, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AuthFlowService } from './auth-flow.service';

/** Sign-in, the OIDC callback, one-time links and sign-out. */
@Controller('auth')
export class AuthController {
  constructor(private readonly flow: AuthFlowService) {}

  @Get('signin')
  signin(@Req() req: Request, @Res() res: Response) {
    return this.flow.signinPage(req, res);
  }

  @Get('login')
  login(@Req() req: Request, @Res() res: Response) {
    return this.flow.startOidc(req, res);
  }

  @Get('callback')
  callback(@Req() req: Request, @Res() res: Response) {
    return this.flow.finishOidc(req, res);
  }

  @Get('link')
  linkPage(@Req() req: Request, @Res() res: Response) {
    return this.flow.linkPage(req, res);
  }

  @Post('link')
  useLink(@Req() req: Request, @Res() res: Response) {
    return this.flow.useLink(req, res);
  }

  @Post('logout')
  logout(@Req() req: Request, @Res() res: Response) {
    return this.flow.logout(req, res);
  }
}
