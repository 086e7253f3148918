import { Controller, Get, Header } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { PERMISSIONS, ROLE_PERMISSIONS, ROLES } from '@bastion/domain';
import { Public } from '../../auth/public.decorator';

@ApiTags('organizations')
@Controller('v1/roles')
export class RolesController {
  /** The catalogue is no secret: 4 roles, 30 permissions (DESIGN §6). */
  @Public()
  @Get()
  @Header('Cache-Control', 'public, max-age=3600')
  @ApiOkResponse({ description: '{roles: [{name, permissions}], permissions}' })
  roles() {
    return { roles: ROLES.map((name) => ({ name, permissions: [...ROLE_PERMISSIONS[name]] })), permissions: [...PERMISSIONS] };
  }
}
