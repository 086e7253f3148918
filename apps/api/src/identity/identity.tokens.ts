export const SIGN_IN_LIMITER = Symbol('SignInLimiter');
export const THROTTLE_REPORTS = Symbol('ThrottleReports');
export const ACCOUNT_REQUEST_LIMITER = Symbol('AccountRequestLimiter');
