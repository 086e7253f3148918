import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC = 'bastion:public';
export const HUMANS_ONLY = 'bastion:humans-only';

/** Opts a route out of the global authentication guard. Every use is a reviewed decision. */
export const Public = () => SetMetadata(IS_PUBLIC, true);

/** The route refuses agent tokens (answered like any failed authentication). */
export const HumansOnly = () => SetMetadata(HUMANS_ONLY, true);
