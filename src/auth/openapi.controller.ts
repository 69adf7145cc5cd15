import { Controller, Get, Inject } from '@nestjs/common';
import { RUNTIME, type Runtime } from '../config/runtime';
import { PublicRoute } from './auth.guard';
import { openApiDocument } from './openapi';

@Controller('api/v1')
export class OpenApiController {
  constructor(@Inject(RUNTIME) private readonly rt: Runtime) {}

  @Get('openapi.json')
  @PublicRoute()
  document() {
    return openApiDocument(this.rt.env.PUBLIC_URL);
  }
}
