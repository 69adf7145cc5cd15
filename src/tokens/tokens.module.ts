import { Module } from '@nestjs/common';
import { OrgsModule } from '../orgs/orgs.module';
import { TokensService } from './tokens.service';

@Module({ imports: [OrgsModule], providers: [TokensService], exports: [TokensService] })
export class TokensModule {}
