import { Controller, Get, Header, Inject } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { ACCESS_TOKENS, type AccessTokens } from '../../auth/access-tokens';
import { Public } from '../../auth/public.decorator';

@ApiTags('auth')
@Controller('.well-known')
export class JwksController {
  constructor(@Inject(ACCESS_TOKENS) private readonly tokens: AccessTokens) {}

  /**
   * Public keys only. A next key appears here minutes before it signs, and a retired one stays until every token
   * it signed has expired, so a downstream verifier caching this for 5 minutes never misses a key.
   */
  @Public()
  @Get('jwks.json')
  @Header('Cache-Control', 'public, max-age=300, must-revalidate')
  @Header('Content-Type', 'application/jwk-set+json')
  @ApiOkResponse({ description: 'The JSON Web Key Set that verifies access tokens.' })
  jwks() {
    return this.tokens.jwks();
  }
}
