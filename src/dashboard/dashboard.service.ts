import { Inject, Injectable } from '@nestjs/common';
import { RUNTIME, type Runtime } from '../config/runtime';

/** Data for the landing page: what is configured, so a new install shows its next step. */
@Injectable()
export class DashboardService {
  constructor(@Inject(RUNTIME) private readonly rt: Runtime) {}

  async home() {
    const providers = Object.entries(this.rt.gatewayConfig.providers).map(([name, p]) => ({ name, models: p.models.length }));
    return { providers, hasProviders: providers.length > 0, configFromFile: !!this.rt.env.SLUICE_CONFIG };
  }
}
