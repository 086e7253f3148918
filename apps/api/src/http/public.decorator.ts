import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC = 'bastion:public';

/** Opts a route out of the global deny-by-default guard. Every use is a reviewed decision. */
export const Public = () => SetMetadata(IS_PUBLIC, true);
