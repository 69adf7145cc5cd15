import { Module } from '@nestjs/common';
import { OrgsModule } from '../orgs/orgs.module';
import { PrincipalCacheService } from './principal-cache.service';
import { TokensService } from './tokens.service';

@Module({ imports: [OrgsModule], providers: [TokensService, PrincipalCacheService], exports: [TokensService, PrincipalCacheService] })
export class TokensModule {}
